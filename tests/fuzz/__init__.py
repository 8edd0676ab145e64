"""A fuzz suite for the ingest (issue 16): real samples, mutated, packed, bombed, renamed.

- :mod:`.samples`: the committed samples it starts from, one or more per format;
- :mod:`.mutate`: the seeded mutator (flip, insert, delete, duplicate, truncate, splice, NUL and
  control bytes, huge lines, huge numbers), each mutation confined to a range of lines;
- :mod:`.build`: a case's input files (containers, nested archives, bombs, special files,
  hostile names);
- :mod:`.reading`: what a reading holds line by line, and what a mutation must have left;
- :mod:`.runner`: one case ingested and judged, inside a worker process (:mod:`.worker`);
- :mod:`.pool`: the workers, each case under a 60 s and 1 GB bound;
- :mod:`.cases`: the CI list and the long run's draw; ``python -m fuzz`` (from ``tests/``, or
  ``benchmarks/fuzz_long.py``) runs them and prints a table.
"""
