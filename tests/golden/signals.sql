-- Signal details: a nil dereference (SIGSEGV) and a SIGQUIT dump with registers.
-- inputs: go1.19.8/default/nil-deref.txt go1.27.3/default/sigquit.txt go1.27.3/default/stack-overflow.txt
SELECT regexp_extract(s.path, 'go1[^/]*/.*$') AS file, d.dump_id - d.source_id AS dump, d.kind, d.message, d.signal,
       d.signal_code, d.fault_addr, regexp_matches(d.fault_pc, '^0x[0-9a-f]+$') AS has_pc,
       length(d.registers) > 0 AS has_registers, d.preamble, d.total_goroutines, d.ts, d.ts_source
FROM dumps d JOIN sources s USING (source_id) ORDER BY file, dump
