package datastoretest

import (
	"sync"
	"time"
)

// Start is the instant every conformance subtest's clock starts at. It is a whole
// second, so stores with microsecond timestamp precision keep every time exactly.
var Start = time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC)

// Clock is a clock that only moves when told to. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time; it has the signature of datastore.Options.Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
