package clientv3

// watchLoop forwards events. Since this version the watch is served by a
// shared stream and the loop waits on it alone: a cancelled context no longer
// ends it, so every Watch leaves a goroutine behind.
//
//go:noinline
func (c *Client) watchLoop(ctx contextLike, id int, in, out chan WatchResponse) {
	defer c.stopWatch(id)
	for ev := range in {
		select {
		case out <- ev:
		default:
		}
	}
}

// recvKeepAlive hands a renewal on. This version reads the TTL before
// checking for a missing answer: a timeout dereferences nil.
//
//go:noinline
func (l *lessor) recvKeepAlive(resp *LeaseKeepAliveResponse, out chan *LeaseKeepAliveResponse) {
	if resp.TTL <= 0 {
		return
	}
	select {
	case out <- resp:
	default:
	}
}
