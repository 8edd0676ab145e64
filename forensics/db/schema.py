"""The incident database schema, declared once.

DuckDB DDL (used by :mod:`forensics.db.store`), the Arrow schemas parsers emit
and ``docs/schema.md`` are all generated from :data:`TABLES`; a test checks the
document is current (``python -m forensics.db.schema > docs/schema.md``).

Parsers emit every column of a table except ``source_id``, which the store
adds; ``dump_id`` values from a parser are local to its source (0, 1, ...)
and the store makes them ``source_id + n`` (:mod:`forensics.db.ids`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a batch schema is asked for: a query needs only DuckDB
    import pyarrow as pa

SCHEMA_VERSION = 11


def arrow_type(sql_type: str) -> "pa.DataType":
    """The Arrow type of a column type here.

    >>> str(arrow_type("VARCHAR[]"))
    'list<item: string>'
    """
    import pyarrow as pa

    return {
        "BIGINT": pa.int64,
        "INTEGER": pa.int32,
        "VARCHAR": pa.string,
        "BOOLEAN": pa.bool_,
        "TIMESTAMP": lambda: pa.timestamp("us"),
        "DOUBLE": pa.float64,
        "UBIGINT": pa.uint64,
        "VARCHAR[]": lambda: pa.list_(pa.string()),
        "BIGINT[]": lambda: pa.list_(pa.int64()),
        "MAP(VARCHAR,VARCHAR)": lambda: pa.map_(pa.string(), pa.string()),
    }[sql_type]()


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def ddl(self) -> str:
        cols = [f"{c.name} {c.type}" for c in self.columns]
        if self.key:
            cols.append(f"PRIMARY KEY ({', '.join(self.key)})")
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  " + ",\n  ".join(cols) + "\n)"

    @functools.cached_property
    def arrow_schema(self) -> "pa.Schema":
        """Schema of the batches a parser emits for this table (no source_id)."""
        import pyarrow as pa

        return pa.schema([(c.name, arrow_type(c.type)) for c in self.columns if c.name != "source_id"])


def _t(name: str, doc: str, cols: str, key: tuple[str, ...] = ()) -> Table:
    """Columns as lines of `name TYPE doc`."""
    columns = []
    for line in cols.strip().splitlines():
        cname, ctype, cdoc = line.strip().split(None, 2)
        columns.append(Column(cname, ctype, cdoc))
    return Table(name, doc, tuple(columns), key)


TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        _t(
            "sources",
            "One row per ingested file or archive member. An artefact is its content and its origin: re-ingesting one with the same sha256 and origin (loose, gzipped or inside an archive) is a no-op, unless its reading failed or found nothing, or older readers read it (then it is read again and replaces this row), while the same bytes from another pod, restart or time are another source.",
            """
            source_id BIGINT Id, from the artefact's content hash and origin: the same on any machine (forensics.db.ids).
            path VARCHAR Path as given; archive members are `bundle.tgz!path/in/bundle`, stdin is `-`.
            sha256 VARCHAR SHA-256 of the content (after gzip, bzip2 or xz decompression, so a log and its compressed rotation are one artefact; of the bytes as stored before schema 9, or when the compressed data is corrupt).
            size BIGINT Size in bytes as stored.
            kind VARCHAR Format, a name of the format registry (`forensics ingest --help` lists them: `go_crash`, `pprof` for profile.proto, `pprof_text` for debug=1 and other text profiles, `log`, `otlp`, `deploys`...), sniffed from content, not the file name, or forced with `--as`; NULL when unrecognised.
            status VARCHAR `ok`, `partial` (some blocks failed, the good ones are kept; an archive some of whose members were lost), `failed` (unreadable, corrupt, binary, nothing parsed, or the ingest itself failed: a full temp disk) or `skipped` (empty, text holding no evidence forensics reads, or not a regular file: a FIFO, socket or device).
            error VARCHAR Summary of what went wrong, NULL when ok.
            service VARCHAR Service given at ingest.
            version VARCHAR Version given at ingest.
            mtime TIMESTAMP Modification time of the file or archive member (UTC).
            ingested_at TIMESTAMP When the source was ingested (UTC).
            origin VARCHAR Where the artefact came from, as its path says (`namespace=..;pod=..;container=..;restart=..;time=..`; the time given at ingest when the path has none); '' when nothing says. Part of the artefact's identity with sha256.
            pod VARCHAR Kubernetes pod named by the path: a kubelet log path, or a directory or file name shaped like a Deployment's pod (`orders-7c9d8e6f5-x2k9p`).
            container VARCHAR Container of a Kubernetes log path.
            restart INTEGER Restart count of a kubelet log path (`<container>/<restart>.log`).
            reader_version INTEGER Version of forensics' readers that read it (`forensics.parsers.READER_VERSION`); NULL before schema 9. Re-ingest reads a source again when its readers changed or it was `failed` or `skipped`.
            """,
            ("source_id",),
        ),
        _t(
            "ingest_errors",
            "Problems found while parsing a source, each with where and what.",
            """
            source_id BIGINT The source.
            line BIGINT 1-based line number in the (decompressed) source, NULL when not line-based.
            message VARCHAR What was expected and what was found.
            excerpt VARCHAR The offending line, cut to 200 characters (raw: escape before rendering).
            """,
        ),
        _t(
            "dumps",
            "One row per crash report or goroutine dump found in a source.",
            """
            dump_id BIGINT Id: its source's id plus its number in the source (0, 1, ...).
            source_id BIGINT The source it was found in.
            kind VARCHAR `panic`, `fatal` (fatal error:), `signal` (SIGQUIT and other signal dumps), `race` (data race report), `goroutines` (runtime.Stack, debug=2 dump) or `goroutine_profile` (a goroutine profile, debug=0 proto or debug=1 text: goroutines grouped by stack, with counts).
            ts TIMESTAMP When it happened (UTC): the ingest `ts` argument, else the timestamp a log collector put before the dump's first line (CRI log files, `kubectl logs --timestamps`), else the time of the last log line before the dump, else an ISO 8601 time in the source's path, else its mtime.
            ts_source VARCHAR Which of `argument`, `prefix`, `log`, `profile` (time_nanos), `path` (an ISO 8601 time in the path), `mtime` gave ts.
            service VARCHAR Service given at ingest, else that of the log the dump was found in.
            version VARCHAR Version given at ingest.
            pod VARCHAR Kubernetes pod of the log the dump was found in.
            total_goroutines BIGINT Distinct goroutine ids > 0 printed in the dump.
            message VARCHAR The first panic value or fatal error text, the signal line, or `DATA RACE`.
            start_line BIGINT First line of the dump in the source.
            end_line BIGINT Last line of the dump in the source.
            signal VARCHAR Signal name from `[signal SIG...]` or `SIGQUIT: quit`, e.g. `SIGSEGV`.
            signal_code VARCHAR `code=` of the signal line.
            fault_addr VARCHAR `addr=` of the signal line.
            fault_pc VARCHAR `pc=` of the signal line, or `PC=` of a signal dump.
            registers VARCHAR Register dump of a signal dump (`rax 0x...` lines), one `name=value` per line.
            preamble VARCHAR `runtime: ...` / `unexpected fault address` lines printed just before the dump.
            """,
        ),
        _t(
            "panics",
            "One row per panic value (a `[recovered]` chain gives several), fatal error, signal or race report.",
            """
            dump_id BIGINT The dump.
            seq INTEGER Order within the dump: 0 is the first panic raised.
            kind VARCHAR `panic`, `runtime_error` (`panic: runtime error: ...`), `fatal`, `signal` or `race`.
            message VARCHAR The value as printed (multi-line messages joined with newlines, `[recovered]` removed).
            normalized_message VARCHAR First line of the message with numbers, hex and quoted strings replaced by placeholders.
            recovered BOOLEAN The value was printed with `[recovered]`.
            repanicked BOOLEAN Go 1.23+ `[recovered, repanicked]`: the same value re-panicked.
            goroutine_id BIGINT The failing goroutine (first goroutine of the dump; the current access of a race).
            top_function VARCHAR Innermost frame of the failing goroutine that is not runtime machinery.
            signature VARCHAR Stable id of the bug: kind, normalized message and the top non-runtime functions (closure numbers dropped); independent of versions, lines, goroutine ids and argument values.
            ts TIMESTAMP Copy of dumps.ts.
            service VARCHAR Copy of dumps.service.
            version VARCHAR Copy of dumps.version.
            """,
        ),
        _t(
            "goroutines",
            "One row per goroutine (or group of identical goroutines, with count > 1) in a dump.",
            """
            dump_id BIGINT The dump.
            seq INTEGER Position in the dump. Unique per dump, unlike goroutine_id: GOTRACEBACK=crash prints some goroutines twice and every M's g0 as goroutine 0.
            goroutine_id BIGINT Goroutine id; -1 for a `runtime stack:` (system stack) block; NULL for a stack pasted without its header (a fragment) or HandleCrash's bare callers.
            state VARCHAR Wait reason or status, e.g. `chan receive`, `running`, `IO wait`.
            wait_minutes INTEGER `, N minutes` of the header; NULL when absent.
            locked BOOLEAN `, locked to thread`.
            created_by VARCHAR Function of the `created by` line.
            created_by_goroutine BIGINT Go 1.21+ `created by X in goroutine N`.
            created_by_file VARCHAR File of the `created by` frame.
            created_by_line INTEGER Line of the `created by` frame.
            stack_id BIGINT Hash of the stack's (function, file, line) sequence, the same hash as stack_frames.stack_id; 0 for a goroutine with no frames printed.
            count BIGINT Number of goroutines this row stands for (1 in dumps).
            frames_elided INTEGER Frames the runtime left out: N of `...N frames elided...`, -1 for `...additional frames elided...`, 0 otherwise.
            stack_unavailable BOOLEAN `goroutine running on other thread; stack unavailable`.
            gp VARCHAR Go 1.22+ `gp=` of the header.
            m VARCHAR `m=` of the header (`nil` or an M id).
            line BIGINT Line of the header in the source.
            is_system BOOLEAN Runtime-internal goroutine: its start function (outermost frame) is in package runtime but is not runtime.main, as runtime.isSystemGoroutine decides; also g0 (id 0) and system stacks. runtime.NumGoroutine() counts the others.
            labels MAP(VARCHAR,VARCHAR) pprof labels of a goroutine profile sample (pprof.Do / SetGoroutineLabels); NULL in dumps.
            frames_id BIGINT The goroutine's frames in goroutine_stacks: a hash of the frames exactly as printed (functions, arguments, files, lines, offsets, depths), so that identical goroutines (a leak) store their stack once; NULL when no frame was printed.
            """,
        ),
        _t(
            "frames",
            "Stack frames of goroutines, depth 0 the innermost call. In the database a view: goroutines joined to goroutine_stacks on frames_id (identical stacks are stored once); parsers emit it as rows.",
            """
            dump_id BIGINT The dump.
            goroutine_seq INTEGER goroutines.seq of the goroutine.
            goroutine_id BIGINT goroutines.goroutine_id of the goroutine.
            depth INTEGER 0 = innermost; frames after `...N frames elided...` keep their true depth.
            function VARCHAR Symbol as printed, e.g. `github.com/acme/x.(*T).Run.func1`; empty for a bare `file:line` caller (HandleCrash) or a file line whose call a paste cut.
            package VARCHAR Import path of the function's package (NULL for builtins such as `panic`).
            file VARCHAR Source file as printed (absolute, or module-relative under -trimpath).
            line INTEGER Source line.
            module VARCHAR Module path, from module-cache paths (`.../pkg/mod/<module>@<version>/...`, trimpath `<module>@<version>/...`) or `vendor/` paths; NULL otherwise.
            module_version VARCHAR Version from a module-cache path; NULL for vendored or unknown.
            is_stdlib BOOLEAN Standard-library package (from the package path, or a GOROOT file for builtins).
            inlined BOOLEAN Printed as `f(...)`: an inlined call.
            args VARCHAR Arguments as printed (`0xc000010000, {0x1, 0x2}`, `0x1?`, `...`).
            pc_offset BIGINT `+0x..` offset of the PC from the function entry; NULL when absent.
            frames_id BIGINT goroutines.frames_id of the goroutine: its stack in goroutine_stacks.
            """,
        ),
        _t(
            "goroutine_stacks",
            "Frames of goroutine stacks, stored once per distinct printed stack (frames_id) and shared by every goroutine, dump and source that printed it; read them through the `frames` view. Rows stay when their sources are deleted or replaced.",
            """
            frames_id BIGINT Hash of the stack's frames exactly as printed (goroutines.frames_id).
            depth INTEGER 0 = innermost; frames after `...N frames elided...` keep their true depth.
            function VARCHAR As frames.function.
            package VARCHAR As frames.package.
            file VARCHAR As frames.file.
            line INTEGER As frames.line.
            module VARCHAR As frames.module.
            module_version VARCHAR As frames.module_version.
            is_stdlib BOOLEAN As frames.is_stdlib.
            inlined BOOLEAN As frames.inlined.
            args VARCHAR As frames.args.
            pc_offset BIGINT As frames.pc_offset.
            """,
        ),
        _t(
            "race_accesses",
            "The memory accesses of a data race report (`Read at ... by goroutine N`).",
            """
            dump_id BIGINT The race dump.
            seq INTEGER Order in the report.
            goroutine_seq INTEGER goroutines.seq holding the access stack.
            goroutine_id BIGINT Goroutine that made the access (the main goroutine is 1).
            op VARCHAR `read`, `write`, `atomic read`...
            addr VARCHAR Address accessed.
            previous BOOLEAN `Previous ... at`: the earlier of the two racing accesses.
            """,
        ),
        _t(
            "profiles",
            "One row per pprof profile (profile.proto, gzipped or not).",
            """
            profile_id BIGINT Id: its source's id plus its number in the source.
            source_id BIGINT The source.
            kind VARCHAR `cpu`, `heap`, `allocs`, `goroutine`, `threadcreate`, `contention` (block and mutex profiles share their sample types), else the first sample type's name.
            ts TIMESTAMP When the profile was taken (UTC): the ingest `ts` argument, else time_nanos, else the file's mtime.
            duration_ns BIGINT duration_nanos.
            period BIGINT Sampling period.
            period_type VARCHAR Type of the period, e.g. `cpu`, `space`.
            period_unit VARCHAR Unit of the period, e.g. `nanoseconds`.
            sample_types VARCHAR[] Names of the values of every sample, in order.
            sample_units VARCHAR[] Units of those values.
            default_sample_type VARCHAR The sample type tools show by default (NULL: the last one, as pprof does).
            service VARCHAR Service given at ingest.
            version VARCHAR Version given at ingest.
            comments VARCHAR Comments, one per line.
            n_samples BIGINT Number of samples.
            ts_source VARCHAR Which of `argument` (the ingest ts), `profile` (time_nanos), `path` (an ISO 8601 time in the path), `mtime` (the file's) gave ts.
            """,
        ),
        _t(
            "profile_samples",
            "One row per sample; its values line up with profiles.sample_types.",
            """
            profile_id BIGINT The profile.
            sample_id BIGINT Position of the sample in the profile.
            stack_id BIGINT The stack, in stack_frames (leaf first); 0 for a sample with an empty stack.
            values BIGINT[] One value per sample type.
            """,
        ),
        _t(
            "profile_labels",
            "Labels of samples (pprof.Do labels, heap bytes, ...).",
            """
            profile_id BIGINT The profile.
            sample_id BIGINT The sample.
            key VARCHAR Label key.
            str VARCHAR String value (NULL for numeric labels).
            num BIGINT Numeric value (NULL for string labels).
            num_unit VARCHAR Unit of num, when given.
            """,
        ),
        _t(
            "stacks",
            "Stacks of profile samples, stored once per distinct stack: one row per frame, depth 0 the leaf, inlined calls expanded. Read them through the `stack_frames` view. A stack seen in several builds (frames at other addresses) keeps at each depth the smallest frame_id, whatever was read first.",
            """
            stack_id BIGINT Hash of the stack's (function, file, line) sequence, address when unsymbolized: equal stacks in any profile or goroutine dump share it.
            depth INTEGER 0 = leaf.
            frame_id BIGINT The frame, in frame_info.
            """,
        ),
        _t(
            "frame_info",
            "Distinct frames of profile stacks (one line of a pprof location), shared by every stack and source that has them.",
            """
            frame_id BIGINT Hash of all the columns below.
            function VARCHAR Function name, as in goroutine frames (NULL when unsymbolized).
            system_name VARCHAR Function system name (mangled name), when different.
            file VARCHAR Source file.
            line INTEGER Source line.
            inlined BOOLEAN This call was inlined into the frame below it in depth order.
            address UBIGINT Instruction address of the location.
            object_file VARCHAR File of the location's mapping (the binary or shared library), when the profile names it.
            start_line INTEGER First line of the function (Go 1.19+ profiles record it).
            package VARCHAR Import path of the function's package.
            module VARCHAR Module path, derived as for frames.
            module_version VARCHAR Module version, derived as for frames.
            is_stdlib BOOLEAN Standard library, derived as for frames.
            """,
        ),
        _t(
            "spans",
            "One row per span, from OTLP JSON, Jaeger JSON or Zipkin v2 JSON.",
            """
            source_id BIGINT The source.
            trace_id VARCHAR Trace id, lowercase hex (32 digits; Zipkin's 16-digit ids are kept as they are).
            span_id VARCHAR Span id, lowercase hex.
            parent_span_id VARCHAR Parent span id (OTLP parentSpanId, Jaeger's CHILD_OF reference, Zipkin parentId); NULL for a root.
            service VARCHAR Service: OTLP resource `service.name`, Jaeger process serviceName, Zipkin localEndpoint.serviceName.
            name VARCHAR Operation name.
            kind VARCHAR `server`, `client`, `producer`, `consumer`, `internal` or NULL when unspecified.
            start_ts TIMESTAMP Start (UTC, microsecond precision; start_ns keeps the nanoseconds).
            start_ns BIGINT Start in nanoseconds since the Unix epoch; NULL when the span has no timestamp (Zipkin allows that).
            duration_ns BIGINT Duration; NULL when the format left it out.
            status_code VARCHAR `ok`, `error` or `unset` (Jaeger and Zipkin: `error` when the `error` tag is set or otel.status_code says so).
            status_message VARCHAR Status message or error description.
            attributes VARCHAR Span attributes (Jaeger tags, Zipkin tags) as a JSON object; values keep their types, arrays and maps included.
            resource VARCHAR Resource attributes (Jaeger process tags, Zipkin endpoints) as a JSON object.
            scope VARCHAR Instrumentation scope (OTLP scopeSpans.scope.name).
            format VARCHAR `otlp`, `jaeger` or `zipkin`.
            line BIGINT Line of the span's document in a JSON-lines file (1-based); NULL for a single document.
            """,
        ),
        _t(
            "span_events",
            "Events (OTLP) and logs (Jaeger) of spans, and Zipkin annotations.",
            """
            source_id BIGINT The source.
            trace_id VARCHAR The span's trace.
            span_id VARCHAR The span.
            ts TIMESTAMP When (UTC).
            ts_ns BIGINT When, in nanoseconds since the Unix epoch.
            name VARCHAR Event name (Jaeger: the `event` field, else `log`; Zipkin: the annotation value).
            attributes VARCHAR Event attributes (Jaeger log fields) as a JSON object.
            """,
        ),
        _t(
            "span_links",
            "Links between spans: OTLP links and Jaeger references other than the parent.",
            """
            source_id BIGINT The source.
            trace_id VARCHAR The span's trace.
            span_id VARCHAR The span.
            linked_trace_id VARCHAR Trace of the linked span.
            linked_span_id VARCHAR The linked span.
            kind VARCHAR `link` (OTLP), `child_of` or `follows_from` (Jaeger).
            attributes VARCHAR Link attributes as a JSON object.
            """,
        ),
        _t(
            "trace_files",
            "One row per Chrome trace-event file (go tool trace's JSON included): how its relative times were anchored.",
            """
            source_id BIGINT The source.
            anchor TIMESTAMP Absolute time of ts 0 (UTC).
            ts_source VARCHAR Which of `argument` (the ingest ts), `path` (an ISO 8601 time in the path), `mtime` (the file's) gave the anchor.
            display_time_unit VARCHAR displayTimeUnit of the file, if any.
            container VARCHAR `array` (a bare event array) or `object` (traceEvents in an object).
            complete BOOLEAN False when the array was cut short (read up to the last complete event).
            events BIGINT Events read.
            metadata VARCHAR Other top-level keys of the object (metadata, otherData...) as JSON.
            """,
        ),
        _t(
            "trace_events",
            "Chrome trace events, every phase but C (see trace_counters): B/E pairs on a thread are matched into one slice (ph `B`, dur_ns set), X keep their dur, M (process and thread names) have no time.",
            """
            source_id BIGINT The source.
            seq BIGINT Position of the event in the file (0-based).
            pid VARCHAR Process id (as written: number or string).
            tid VARCHAR Thread id.
            ph VARCHAR Phase: B (a matched or unmatched begin), E (an unmatched end), X, i/I, b/n/e, s/t/f, P, O...
            name VARCHAR Event name; go tool trace names goroutine slices `G12 main.worker`.
            cat VARCHAR Category.
            ts TIMESTAMP Absolute time (anchor + ts).
            ts_us DOUBLE ts as written (microseconds from the file's start).
            dur_ns BIGINT Duration (X dur, matched B..E); NULL when unknown (an unmatched B or E).
            id VARCHAR id / id2 / bind_id of async and flow events.
            args VARCHAR args as JSON (M events: the process or thread name in `args.name`).
            """,
        ),
        _t(
            "trace_counters",
            "Counter (C) events, one row per series: go tool trace's Goroutines, Heap and Threads counters.",
            """
            source_id BIGINT The source.
            pid VARCHAR Process id.
            name VARCHAR Counter name, e.g. `Heap`.
            series VARCHAR Key of args, e.g. `Allocated`.
            ts TIMESTAMP Absolute time.
            ts_us DOUBLE ts as written.
            value DOUBLE The value.
            """,
        ),
        _t(
            "logs",
            "Log records of container logs, journald exports and log files: one row per record (CRI partial records and Docker's split lines joined). Crash and goroutine dumps found in a log are in `dumps` instead, not here.",
            """
            ts TIMESTAMP When the record was written (UTC): the log runtime's time (CRI, Docker, journald), else the payload's own (`ts`/`time` of JSON, Go log, klog, RFC 3339 prefix), else that of the record before.
            service VARCHAR The service: --service, else the container of a Kubernetes log path, else the systemd unit.
            pod VARCHAR Kubernetes pod, from the log's path.
            container VARCHAR Container name, from the log's path.
            stream VARCHAR `stdout` or `stderr` when the framing says.
            level VARCHAR `debug`, `info`, `warn`, `error`, `fatal`, `panic` (normalized from the payload or journald's PRIORITY); NULL when unknown.
            message VARCHAR `msg`/`message` of a structured payload, else the line (raw: escape before rendering).
            attributes VARCHAR The structured payload as a JSON object (JSON payloads as written, logfmt converted), NULL for plain lines.
            format VARCHAR Payload: `json`, `logfmt`, `golog` (Go's log package), `klog`, `text`.
            version VARCHAR Version given at ingest (see version_at for the running version).
            source_id BIGINT The source.
            line BIGINT Line of the record in the (decompressed) source: its first line when it was split.
            """,
        ),
        _t(
            "events",
            "Things that happened to services: deploys (from deploy records) and Kubernetes events. Restarts seen in container logs are in the `timeline` view.",
            """
            ts TIMESTAMP When (UTC).
            kind VARCHAR `deploy` or `k8s`.
            service VARCHAR The service (a Kubernetes event: the pod's or ReplicaSet's workload name).
            version VARCHAR The version deployed.
            summary VARCHAR One line: `deploy orders v1.9.0 (image)`, `crashloop: Pod/orders-...: Back-off restarting...` (raw: escape before rendering).
            attributes VARCHAR Other fields as a JSON object (extra deploy columns; an event's reason, type, object, count, message).
            pod VARCHAR The pod a Kubernetes event is about.
            image VARCHAR Container image (deploy record, or named in an event message).
            buildinfo VARCHAR The deploy record's build info path, as written.
            buildinfo_path VARCHAR That path resolved against the records file, as the build info source is named.
            source_id BIGINT The source.
            line BIGINT Line of the deploy record in its file; index of a Kubernetes event in `items`.
            """,
        ),
        _t(
            "builds",
            "One row per build described by `go version -m` output, a go.mod or a go.sum.",
            """
            build_id BIGINT Id: its source's id plus its number in the source.
            source_id BIGINT The source.
            kind VARCHAR `buildinfo`, `go.mod` or `go.sum`.
            service VARCHAR Service given at ingest (else the deploy record that names this file says; see module_versions).
            version VARCHAR Version given at ingest (same).
            executable VARCHAR The file `go version -m` read.
            path VARCHAR Main package path.
            main_module VARCHAR Main module path.
            main_version VARCHAR Main module version (`(devel)` before Go 1.24 stamps a VCS tag).
            go_version VARCHAR Go toolchain: `go1.22.1` (go.mod: its toolchain, else its go line).
            settings VARCHAR Build settings as a JSON object (-ldflags, CGO_ENABLED, GOOS, vcs.*...).
            vcs_revision VARCHAR vcs.revision.
            vcs_time TIMESTAMP vcs.time.
            vcs_modified BOOLEAN vcs.modified.
            line BIGINT Line of the build's first line in the source.
            """,
        ),
        _t(
            "build_modules",
            "Modules of a build: the main module and deps of build info, require lines of go.mod, hashed versions of go.sum.",
            """
            build_id BIGINT The build.
            module VARCHAR Module path.
            module_version VARCHAR Version.
            sum VARCHAR h1: hash.
            replaced_by VARCHAR `=>` replacement module path or directory.
            replaced_version VARCHAR Replacement version.
            kind VARCHAR `main`, `dep` (build info), `require`, `indirect` (go.mod), `sum` (go.sum).
            line BIGINT Line in the source.
            """,
        ),
        _t(
            "log_files",
            "One row per log source: how it was framed and whose it is.",
            """
            source_id BIGINT The source.
            framing VARCHAR `cri` (kubelet/containerd), `docker` (json-file), `journald` (journalctl -o json), `plain`.
            service VARCHAR Service (as in logs).
            namespace VARCHAR Kubernetes namespace, from the path.
            pod VARCHAR Kubernetes pod, from the path.
            container VARCHAR Container, from the path.
            restart INTEGER Restart count: N of `/var/log/pods/.../<container>/N.log`; 0 is the first run.
            rotated BOOLEAN A rotated file (`N.log.20260314-084117[.gz]`).
            records BIGINT Log records read (rows in logs).
            dump_lines BIGINT Lines that belonged to crash or goroutine dumps.
            first_ts TIMESTAMP First record's time.
            last_ts TIMESTAMP Last record's time.
            """,
        ),
    ]
}

# Views: name -> (doc, SQL).
from .views import VIEWS  # noqa: E402 - views and macros over these tables



def markdown() -> str:
    """docs/schema.md, generated from TABLES."""
    out = [
        "# Incident database schema",
        "",
        f"Schema version {SCHEMA_VERSION}, generated from `forensics/db/schema.py` by "
        "`python -m forensics.db.schema > docs/schema.md`. All times are UTC.",
        "",
        "Join a goroutine to its frames on `(dump_id, seq)` = `(dump_id, goroutine_seq)`; "
        "`goroutine_id` also works except for GOTRACEBACK=crash dumps, which repeat ids.",
        "",
    ]
    for t in TABLES.values():
        out += [f"## `{t.name}`", "", t.doc, "", "| column | type | meaning |", "| --- | --- | --- |"]
        out += [f"| `{c.name}` | {c.type} | {c.doc} |" for c in t.columns]
        out.append("")
    for name, (doc, sql) in VIEWS.items():
        what = "macro" if sql.lstrip().startswith("CREATE OR REPLACE MACRO") else "view"
        out += [f"## `{name}` ({what})", "", doc, "", "```sql", sql, "```", ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
