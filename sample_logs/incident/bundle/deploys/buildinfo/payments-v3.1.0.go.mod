module example.com/orders

go 1.19

require github.com/acme/ratelimit v1.6.0
