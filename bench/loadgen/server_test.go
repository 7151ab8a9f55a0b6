package loadgen

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestServerCPUCountsThisProcessWork(t *testing.T) {
	before, err := ServerCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn about 200ms of CPU.
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		x++
	}
	after, err := ServerCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 100*time.Millisecond {
		t.Errorf("200ms of spinning counted as %v of CPU (x=%d)", d, x)
	}
	if _, err := ServerCPU(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

func TestWaitIdleReturnsOnceTheProcessRests(t *testing.T) {
	stop := make(chan struct{})
	go func() {
		for start := time.Now(); time.Since(start) < 1500*time.Millisecond; {
		}
		close(stop)
	}()
	waited, err := WaitIdle(context.Background(), os.Getpid(), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	<-stop
	if waited < time.Second {
		t.Errorf("WaitIdle returned after %v while this process was spinning for 1.5s", waited)
	}
	if waited > 10*time.Second {
		t.Errorf("WaitIdle waited %v for a process that rested after 1.5s", waited)
	}
}
