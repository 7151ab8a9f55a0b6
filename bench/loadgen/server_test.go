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
	// Spin until the process has used 100ms of CPU by its own count, however busy
	// the machine is; a ServerCPU that did not follow the work never gets there.
	x := 0
	for deadline := time.Now().Add(20 * time.Second); ; {
		for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
			x++
		}
		after, err := ServerCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if after-before >= 100*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s of spinning counted as %v of CPU (x=%d)", after-before, x)
		}
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
