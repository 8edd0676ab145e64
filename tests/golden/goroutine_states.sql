-- Goroutine states, waits and locks of a runtime.Stack dump (Go 1.27).
-- inputs: go1.27.3/default/stack.txt
SELECT state, count(*) AS goroutines, sum(locked::INT)::INT AS locked, count(created_by) AS with_creator,
       count(DISTINCT stack_id) AS stacks, sum(is_system::INT)::INT AS system
FROM goroutines GROUP BY state ORDER BY state
