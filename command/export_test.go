package command

// Queued reports how many commands wait for the stream's lock, so that a test can build a queue before it
// lets the write in front of it finish.
func (c *Cache[S, C, E]) Queued(stream string) int {
	e := c.lookup(stream)
	e.qmu.Lock()
	defer e.qmu.Unlock()
	return len(e.queue)
}
