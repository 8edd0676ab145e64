module github.com/acme/ratelimit

go 1.19
