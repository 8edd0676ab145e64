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
