package projections

// Waiting returns the number of blocked WaitFor calls, so tests can check that none is left behind.
func Waiting(r *Runner) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waiters)
}

var Union = union
