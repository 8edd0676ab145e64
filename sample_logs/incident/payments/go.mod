module example.com/shop/payments

go 1.19

require (
	example.com/shop/kit v0.4.1
	github.com/acme/ratelimit v1.6.0
)
