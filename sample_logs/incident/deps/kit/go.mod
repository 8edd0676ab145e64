module example.com/shop/kit

go 1.19
