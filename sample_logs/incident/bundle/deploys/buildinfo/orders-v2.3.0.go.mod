module example.com/shop/orders

go 1.19

require (
	github.com/acme/ratelimit v1.5.0
	go.etcd.io/etcd/client/v3 v3.4.27
)
