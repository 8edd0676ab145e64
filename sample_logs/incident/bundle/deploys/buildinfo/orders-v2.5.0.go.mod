module example.com/shop/orders

go 1.19

require (
	github.com/acme/ratelimit v1.6.0
	go.etcd.io/etcd/client/v3 v3.5.9
)
