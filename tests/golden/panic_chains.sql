-- Recovered chains and re-panics: Go 1.19 prints two values, Go 1.27 one with [recovered, repanicked].
-- inputs: go1.19.8/default/recovered-chain.txt go1.19.8/default/repanic.txt go1.27.3/default/repanic.txt go1.27.3/default/nested-panic.txt
SELECT regexp_extract(s.path, 'go1[^/]*/.*$') AS file, d.dump_id - d.source_id AS dump, p.seq, p.kind, p.message,
       p.recovered, p.repanicked, p.goroutine_id, p.top_function
FROM panics p JOIN dumps d USING (dump_id) JOIN sources s ON s.source_id = d.source_id
ORDER BY file, dump, p.seq
