package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pemba-authz/pemba/internal/datastore/bolt"
)

func scimBenchServer(b *testing.B) (*testServer, *scimClient) {
	ds, err := bolt.Open(b.TempDir(), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ts := scimServer(b, ds)
	res := scimConnection(b, ts, "bench", "acme-eu", "user:eve", map[string]string{"EU App Managers": "app_manager"})
	return ts, &scimClient{t: b, ts: ts, base: res.GetBaseUrl(), token: res.GetSecretToken()}
}

// BenchmarkScimProvisioning measures provisioning over HTTP on the embedded store,
// as a directory's first sync does it: per user a lookup by userName and a create,
// and per ten users a group created with them as members; 8 clients at once. It
// reports SCIM operations per second (lookups, creates and group creates).
func BenchmarkScimProvisioning(b *testing.B) {
	_, c := scimBenchServer(b)
	const clients = 8
	var ops, next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var batch []string
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				name := fmt.Sprintf("user%d@acme.example", i)
				if r := c.do("GET", "/Users?filter="+q(fmt.Sprintf("userName eq %q", name)), ""); r.Status != http.StatusOK {
					b.Errorf("lookup: %d %s", r.Status, r.Raw)
					return
				}
				r := c.do("POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"externalId":"e%d","active":true,"emails":[{"value":%q,"type":"work","primary":true}]}`, name, i, name))
				if r.Status != http.StatusCreated {
					b.Errorf("create: %d %s", r.Status, r.Raw)
					return
				}
				ops.Add(2)
				batch = append(batch, fmt.Sprintf(`{"value":%q}`, str(r.Body["id"])))
				if len(batch) == 10 {
					r := c.do("POST", "/Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"team %d","members":[%s]}`, i, joinComma(batch)))
					if r.Status != http.StatusCreated {
						b.Errorf("group: %d %s", r.Status, r.Raw)
						return
					}
					ops.Add(1)
					batch = batch[:0]
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(ops.Load())/time.Since(start).Seconds(), "scim-ops/s")
}

func joinComma(s []string) string {
	out := ""
	for i, e := range s {
		if i > 0 {
			out += ","
		}
		out += e
	}
	return out
}

// BenchmarkScimDeprovision500 measures deprovisioning (PATCH active:false) of a user
// holding 500 grants inside the organisation's subtree (viewer of 500 projects the
// organisation owns, and a partner grant that depends on the membership) over HTTP on
// the embedded store; it reports the p99 latency.
func BenchmarkScimDeprovision500(b *testing.B) {
	ts, c := scimBenchServer(b)
	var rels []string
	for p := 0; p < 500; p++ {
		rels = append(rels, fmt.Sprintf("project:p%d#owner@organization:acme-eu", p))
	}
	ts.touch(b, "", rels...)
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := c.want(http.StatusCreated, "POST", "/Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"leaver%d","active":true}`, i))
		id := str(r.Body["id"])
		grants := make([]string, 0, 500)
		for p := 0; p < 499; p++ {
			grants = append(grants, fmt.Sprintf("project:p%d#viewer@user:%s", p, id))
		}
		grants = append(grants, fmt.Sprintf("project:p499#partner_viewer@user:%s", id))
		ts.touch(b, "", grants...)
		b.StartTimer()
		t0 := time.Now()
		r = c.want(http.StatusOK, "PATCH", "/Users/"+id, fmt.Sprintf(patchOp, `{"op":"replace","value":{"active":false}}`))
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		check(b, ts, tokenOf(b, r), "project:p0", "view", "user:"+id, false)
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}
