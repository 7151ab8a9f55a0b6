package deploy_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// manifestProbes reads the pemba container's readiness and liveness probes from the
// Deployment manifest, and checks that the port they name is the HTTP listener.
func manifestProbes(t *testing.T) (readiness, liveness corev1.Probe) {
	t.Helper()
	raw, err := os.ReadFile("kubernetes/base/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(raw, &d); err != nil {
		t.Fatal(err)
	}
	ctr := d.Spec.Template.Spec.Containers[0]
	for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Fatalf("the pemba container's probes are not both HTTP GETs: %+v %+v", ctr.ReadinessProbe, ctr.LivenessProbe)
		}
		port := p.HTTPGet.Port.String()
		i := slices.IndexFunc(ctr.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == port })
		if i < 0 || ctr.Ports[i].ContainerPort != 8080 || !slices.Contains(ctr.Args, "--http-addr=0.0.0.0:8080") {
			t.Fatalf("probe port %q is not the HTTP listener (ports %v, args %v)", port, ctr.Ports, ctr.Args)
		}
	}
	return *ctr.ReadinessProbe, *ctr.LivenessProbe
}

// prober polls one HTTP probe the way kubelet does: a GET every periodSeconds that
// succeeds on a 2xx or 3xx answer within timeoutSeconds; the probe is failed after
// failureThreshold failures in a row and passes again after successThreshold
// successes in a row.
type prober struct {
	probe corev1.Probe
	url   string

	mu       sync.Mutex
	failures int  // individual failed polls, in all
	failed   bool // the probe's state: failed (not ready / restart) or passing
	run, ok  int  // consecutive failures / successes
	changed  chan struct{}
}

// startProber polls until the test ends; it starts failed, as a new pod is not ready.
func startProber(t *testing.T, probe corev1.Probe, base string) *prober {
	p := &prober{probe: probe, url: base + probe.HTTPGet.Path, failed: true, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	client := &http.Client{Timeout: time.Duration(probe.TimeoutSeconds) * time.Second}
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Duration(probe.PeriodSeconds) * time.Second)
		defer tick.Stop()
		for {
			resp, err := client.Get(p.url)
			good := err == nil && resp.StatusCode >= 200 && resp.StatusCode < 400
			if err == nil {
				resp.Body.Close()
			}
			p.record(good)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *prober) record(good bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	success := max(p.probe.SuccessThreshold, 1)
	if good {
		p.ok, p.run = p.ok+1, 0
		if p.failed && int32(p.ok) >= success {
			p.failed = false
			close(p.changed)
			p.changed = make(chan struct{})
		}
		return
	}
	p.failures++
	p.run, p.ok = p.run+1, 0
	if !p.failed && int32(p.run) >= p.probe.FailureThreshold {
		p.failed = true
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// waitState waits up to within for the probe's state to be failed (or passing) and
// reports whether it got there.
func (p *prober) waitState(failed bool, within time.Duration) bool {
	deadline := time.After(within)
	for {
		p.mu.Lock()
		state, changed := p.failed, p.changed
		p.mu.Unlock()
		if state == failed {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

func (p *prober) failureCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures
}

// detectWithin is the longest kubelet may take to fail a probe that fails from now
// on: the poll in progress, then failureThreshold polls.
func detectWithin(p corev1.Probe) time.Duration {
	return time.Duration(p.PeriodSeconds*(p.FailureThreshold+1)+p.TimeoutSeconds) * time.Second
}

// grpcHealth asks the gRPC health service for the server's status.
func grpcHealth(t *testing.T, addr string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("gRPC health: %v", err)
	}
	return resp.GetStatus()
}

// A database outage under the manifest's probe settings takes the pod out of the
// Service without restarting it: with `pemba serve` behind a TCP proxy to PostgreSQL
// and the proxy cut, readiness fails within its threshold while liveness never
// fails, for as long as liveness would take to restart the pod; once the proxy is
// back, readiness recovers and the same process serves on.
func TestDatabaseOutageLeavesPodRunning(t *testing.T) {
	t.Parallel()
	readiness, liveness := manifestProbes(t)
	direct := freshDatabase(t)
	px := newProxy(t, hostOf(t, direct))
	px.restore()
	srv := startServe(t, []string{"PEMBA_PRESHARED_KEY=" + testKey}, "--datastore", "postgres", "--datastore-uri", withHost(t, direct, px.addr))
	base := "http://" + srv.http
	ready := startProber(t, readiness, base)
	live := startProber(t, liveness, base)
	if !ready.waitState(false, 30*time.Second) {
		t.Fatalf("never ready with the database up:\n%s", srv.log())
	}

	px.cut()
	cutAt := time.Now()
	if !ready.waitState(true, detectWithin(readiness)) {
		t.Fatalf("readiness did not fail within %v of the database going away:\n%s", detectWithin(readiness), srv.log())
	}
	t.Logf("readiness failed %v after the cut", time.Since(cutAt).Round(time.Millisecond))
	if st := grpcHealth(t, srv.grpc); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health during the outage: %v, want NOT_SERVING", st)
	}
	// Stay down for as long as liveness would need to restart the pod.
	time.Sleep(time.Until(cutAt.Add(time.Duration(liveness.PeriodSeconds*liveness.FailureThreshold) * time.Second)))
	if n := live.failureCount(); n != 0 {
		t.Errorf("liveness failed %d times during the database outage: kubelet would restart a pod that only waits for its database", n)
	}
	srv.running(t, "during the outage")

	px.restore()
	backAt := time.Now()
	if !ready.waitState(false, 30*time.Second) {
		t.Fatalf("readiness did not recover within 30s of the database coming back:\n%s", srv.log())
	}
	t.Logf("readiness recovered %v after the database came back", time.Since(backAt).Round(time.Millisecond))
	if st := grpcHealth(t, srv.grpc); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health after the outage: %v, want SERVING", st)
	}
	if n := live.failureCount(); n != 0 {
		t.Errorf("liveness failed %d times", n)
	}
	srv.running(t, "after the outage")
}

// `pemba serve` started while its database is unreachable does not exit: it serves,
// reports not-ready (readiness fails, gRPC health NOT_SERVING) while liveness passes,
// and becomes ready once the database can be reached.
func TestServeStartsWhileDatabaseDown(t *testing.T) {
	t.Parallel()
	readiness, liveness := manifestProbes(t)
	direct := freshDatabase(t)
	px := newProxy(t, hostOf(t, direct)) // cut: refuses connections
	srv := startServe(t, []string{"PEMBA_PRESHARED_KEY=" + testKey}, "--datastore", "postgres", "--datastore-uri", withHost(t, direct, px.addr))
	base := "http://" + srv.http
	ready := startProber(t, readiness, base)
	live := startProber(t, liveness, base)

	// A new pod starts not ready; it must stay so for a full failure threshold.
	time.Sleep(detectWithin(readiness))
	if !ready.waitState(true, 0) || ready.failureCount() < int(readiness.FailureThreshold) {
		t.Errorf("readiness passed %d of its polls with the database unreachable", ready.failureCount())
	}
	if st := grpcHealth(t, srv.grpc); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health with the database unreachable: %v, want NOT_SERVING", st)
	}
	srv.running(t, "with the database unreachable")

	px.restore()
	if !ready.waitState(false, 30*time.Second) {
		t.Fatalf("not ready within 30s of the database becoming reachable:\n%s", srv.log())
	}
	if st := grpcHealth(t, srv.grpc); st != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("gRPC health once the database is reachable: %v, want SERVING", st)
	}
	if n := live.failureCount(); n != 0 {
		t.Errorf("liveness failed %d times while serve waited for its database", n)
	}
	srv.running(t, "after the database came back")
}

// testKey is the admin key the tests' servers are given.
const testKey = "deploy-test-admin-key-0123456789abcdef"
