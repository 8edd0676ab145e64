"""Migrations of older databases' tables that a newer schema keeps another way.

Most schema versions only add tables, columns and views, which creating the
schema again adds (:meth:`forensics.db.store.Store._create_schema`); these
move rows where a table became a view of others.
"""
from __future__ import annotations

from .schema import TABLES


def split_stack_frames(con) -> None:
    """Schema 4 keeps stack frames as stacks + frame_info (stack_frames is a
    view now): move an older database's stack_frames table over."""
    kind = con.execute(
        "SELECT any_value(table_type) FROM information_schema.tables WHERE table_name = 'stack_frames'").fetchall()[0][0]
    if kind != "BASE TABLE":
        return
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'stack_frames'").fetchall()}
    wanted = [c.name for c in TABLES["frame_info"].columns if c.name != "frame_id"]
    columns = ", ".join(c if c in have else f"NULL AS {c}" for c in wanted)  # schema 2 lacked some
    con.execute(f"CREATE TEMP TABLE _old_frames AS SELECT stack_id, depth, {columns} FROM stack_frames")
    names = ", ".join(wanted)
    con.execute(f"INSERT INTO frame_info SELECT DISTINCT (hash({names}) >> 1)::BIGINT, {names} FROM _old_frames")
    con.execute(f"INSERT INTO stacks SELECT stack_id, depth, (hash({names}) >> 1)::BIGINT FROM _old_frames")
    con.execute("DROP TABLE _old_frames")
    con.execute("DROP TABLE stack_frames")


_STACK_COLUMNS = ("depth, function, package, file, line, module, module_version, is_stdlib, inlined, args, "
                  "pc_offset")


def split_goroutine_frames(con) -> None:
    """Schema 10 stores goroutine frames once per distinct stack (goroutine_stacks,
    frames is a view): move an older database's frames table over. The keys of
    moved stacks are hashes of their rows, not of their text as parsers key them."""
    kind = con.execute("SELECT any_value(table_type) FROM information_schema.tables "
                       "WHERE table_name = 'frames'").fetchall()[0][0]
    if kind != "BASE TABLE":
        return
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'frames'").fetchall()}
    cols = [c.strip() for c in _STACK_COLUMNS.split(",")]
    picked = ", ".join(c if c in have else f"NULL AS {c}" for c in cols)
    seq = "goroutine_seq" if "goroutine_seq" in have else "NULL::INTEGER AS goroutine_seq"
    con.execute(f"CREATE TEMP TABLE _fx_old_frames AS SELECT dump_id, {seq}, goroutine_id, {picked} FROM frames")
    # Before goroutine_seq, goroutine_id joined a goroutine to its frames.
    con.execute("UPDATE _fx_old_frames f SET goroutine_seq = g.seq FROM goroutines g "
                "WHERE f.goroutine_seq IS NULL AND g.dump_id = f.dump_id AND g.goroutine_id = f.goroutine_id")
    con.execute(f"""CREATE TEMP TABLE _fx_old_keys AS
        SELECT dump_id, goroutine_seq,
               (hash(list(struct_pack({_STACK_COLUMNS}) ORDER BY depth)) >> 1)::BIGINT AS frames_id
        FROM _fx_old_frames WHERE goroutine_seq IS NOT NULL GROUP BY dump_id, goroutine_seq""")
    con.execute("UPDATE goroutines g SET frames_id = k.frames_id FROM _fx_old_keys k "
                "WHERE g.dump_id = k.dump_id AND g.seq = k.goroutine_seq")
    con.execute(f"""INSERT INTO goroutine_stacks
        SELECT DISTINCT k.frames_id, {', '.join('f.' + c for c in cols)}
        FROM _fx_old_frames f JOIN _fx_old_keys k USING (dump_id, goroutine_seq)
        WHERE k.frames_id NOT IN (SELECT frames_id FROM goroutine_stacks)""")
    con.execute("DROP TABLE _fx_old_frames")
    con.execute("DROP TABLE _fx_old_keys")
    con.execute("DROP TABLE frames")


def derive_ids(con) -> None:
    """Schema 11 derives ids from each artefact (:mod:`forensics.db.ids`):
    give an older database's sources their ids, and their dumps, profiles
    and builds `source_id + n`, n their order within the source, in every
    table that refers to them. In one transaction."""
    import pyarrow as pa

    from .ids import LOCAL_IDS, source_id

    rows = con.execute("SELECT source_id, sha256, coalesce(origin, ''), path FROM sources "
                       "ORDER BY source_id").fetchall()
    new = {old: source_id(sha, origin, path) for old, sha, origin, path in rows}  # a re-read file's: its last id
    latest = {n: old for old, n in new.items()}
    stale = [old for old, n in new.items() if latest[n] != old]  # earlier failed reads of an unreadable file
    ids = pa.table({"old": list(latest.values()), "new": list(latest.keys())},
                   schema=pa.schema([("old", pa.int64()), ("new", pa.int64())]))
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_type = 'BASE TABLE' AND table_schema = 'main'").fetchall()]
    columns = {(t, c) for t, c in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                              "WHERE table_schema = 'main'").fetchall()}
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_fx_source_ids", ids)
        for table in tables:
            if (table, "source_id") in columns and stale:
                con.execute(f"DELETE FROM {table} WHERE source_id IN (SELECT unnest(?))", [stale])
        for col, owner in LOCAL_IDS.items():
            con.execute(f"""CREATE TEMP TABLE _fx_local_ids AS
                SELECT o.{col} AS old, m.new + row_number() OVER (PARTITION BY o.source_id ORDER BY o.{col}) - 1 AS new
                FROM {owner} o JOIN _fx_source_ids m ON m.old = o.source_id""")
            for table in tables:
                if (table, col) in columns:
                    con.execute(f"UPDATE {table} SET {col} = x.new FROM _fx_local_ids x WHERE {table}.{col} = x.old")
            con.execute("DROP TABLE _fx_local_ids")
        for table in tables:
            if (table, "source_id") in columns:
                con.execute(f"UPDATE {table} SET source_id = m.new FROM _fx_source_ids m "
                            f"WHERE {table}.source_id = m.old")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_fx_source_ids")
