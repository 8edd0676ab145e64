module example.com/shop/orders

go 1.19

require (
	example.com/shop/kit v0.4.1
	github.com/acme/ratelimit v1.6.0
	go.etcd.io/etcd/client/v3 v3.5.9
)
