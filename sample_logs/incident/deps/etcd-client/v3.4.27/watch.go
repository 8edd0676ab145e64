package clientv3

// watchLoop forwards events until the watch's context is done.
//
//go:noinline
func (c *Client) watchLoop(ctx contextLike, id int, in, out chan WatchResponse) {
	defer c.stopWatch(id)
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-in:
			select {
			case out <- ev:
			default:
			}
		}
	}
}

// recvKeepAlive hands a renewal on; a missing answer is skipped.
//
//go:noinline
func (l *lessor) recvKeepAlive(resp *LeaseKeepAliveResponse, out chan *LeaseKeepAliveResponse) {
	if resp == nil {
		return
	}
	if resp.TTL <= 0 {
		return
	}
	select {
	case out <- resp:
	default:
	}
}
