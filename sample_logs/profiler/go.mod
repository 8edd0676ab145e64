module example.com/profiler

go 1.19
