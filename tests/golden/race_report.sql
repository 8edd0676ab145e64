-- A data race: both accesses, their goroutines and top frames.
-- inputs: go1.19.8/race/race.txt go1.27.3/race/race.txt
SELECT regexp_extract(s.path, 'go1[^/]*/.*$') AS file, a.seq, a.op, a.previous, a.goroutine_id, g.state, g.created_by,
       f.function, f.line
FROM race_accesses a
JOIN goroutines g ON g.dump_id = a.dump_id AND g.seq = a.goroutine_seq
JOIN frames f ON f.dump_id = a.dump_id AND f.goroutine_seq = a.goroutine_seq AND f.depth = 0
JOIN dumps d ON d.dump_id = a.dump_id JOIN sources s ON s.source_id = d.source_id
ORDER BY file, a.dump_id, a.seq
