// Package datastoretest is the conformance suite every Pemba datastore runs.
//
// A store's own test calls RunConformance with a constructor that returns a fresh,
// empty store for the options it is handed:
//
//	func TestConformance(t *testing.T) {
//		datastoretest.RunConformance(t, func(t *testing.T, opts datastore.Options) datastore.Datastore {
//			return memory.New(opts)
//		})
//	}
//
// Every subtest builds its own store, so subtests never see each other's data. The
// options carry a Clock the suite controls (opts.Now): stores must take every notion of
// "now" from it — expiry, commit timestamps, the GC window, audit retention and
// revision quantisation — so the suite can move time instead of sleeping.
//
// The suite closes the store when a subtest ends; the constructor registers, with
// t.Cleanup, whatever else must be released (files, database schemas).
package datastoretest
