-- Signal details: a nil dereference (SIGSEGV) and a SIGQUIT dump with registers.
-- inputs: go1.19.8/default/nil-deref.txt go1.27.3/default/sigquit.txt go1.27.3/default/stack-overflow.txt
SELECT dump_id, kind, message, signal, signal_code, fault_addr, regexp_matches(fault_pc, '^0x[0-9a-f]+$') AS has_pc,
       length(registers) > 0 AS has_registers, preamble, total_goroutines, ts, ts_source
FROM dumps ORDER BY dump_id
