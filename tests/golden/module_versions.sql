-- The dependency's frames across builds: module cache (two versions), -trimpath and vendor/.
-- inputs: go1.27.3/default/panic-custom-error.txt go1.27.3/ratelimit-v1.6.0/panic-custom-error.txt go1.27.3/trimpath/panic-custom-error.txt go1.27.3/vendor/panic-string.txt
SELECT regexp_extract(s.path, 'go1[^/]*/.*$') AS file_read, f.function, f.package, f.module, f.module_version, f.line, f.is_stdlib,
       regexp_replace(f.file, '^.*?(github.com/)', '…/\1') AS file
FROM frames f JOIN dumps d USING (dump_id) JOIN sources s ON s.source_id = d.source_id
WHERE f.package = 'github.com/acme/ratelimit'
GROUP BY ALL ORDER BY ALL
