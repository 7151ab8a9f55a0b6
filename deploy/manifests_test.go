package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/pemba-authz/pemba/internal/cli"
)

// objects are the Kubernetes objects of one rendering, strictly decoded.
type objects struct {
	jobs        []batchv1.Job
	deployments []appsv1.Deployment
	services    []corev1.Service
	pdbs        []policyv1.PodDisruptionBudget
}

// decodeObject strictly decodes one object into its Kubernetes API type: a field the
// type does not have, a value of the wrong type or a kind Pemba does not deploy fails.
func (o *objects) decodeObject(doc []byte) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return err
	}
	var err error
	switch head.APIVersion + " " + head.Kind {
	case "batch/v1 Job":
		var v batchv1.Job
		err = yaml.UnmarshalStrict(doc, &v)
		o.jobs = append(o.jobs, v)
	case "apps/v1 Deployment":
		var v appsv1.Deployment
		err = yaml.UnmarshalStrict(doc, &v)
		o.deployments = append(o.deployments, v)
	case "v1 Service":
		var v corev1.Service
		err = yaml.UnmarshalStrict(doc, &v)
		o.services = append(o.services, v)
	case "policy/v1 PodDisruptionBudget":
		var v policyv1.PodDisruptionBudget
		err = yaml.UnmarshalStrict(doc, &v)
		o.pdbs = append(o.pdbs, v)
	default:
		return fmt.Errorf("unexpected object %s %s", head.APIVersion, head.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", head.Kind, err)
	}
	return nil
}

// render builds a kustomization with kustomize's own library and strictly decodes
// every object it outputs.
func render(t *testing.T, dir string) *objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	o := &objects{}
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.decodeObject(doc); err != nil {
			t.Errorf("kustomize %s: %v\n%s", dir, err, doc)
		}
	}
	if len(o.jobs) != 1 || len(o.deployments) != 1 || len(o.services) != 1 || len(o.pdbs) != 1 {
		t.Fatalf("kustomize %s: want one Job, Deployment, Service and PodDisruptionBudget, got %d %d %d %d",
			dir, len(o.jobs), len(o.deployments), len(o.services), len(o.pdbs))
	}
	return o
}

// Every file of the kustomize tree decodes strictly: the manifests into the
// Kubernetes API types, the kustomization files into kustomize's own type.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("kubernetes/*/*/*.yaml")
	files = append(files, more...)
	if len(files) < 7 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "kustomization.yaml" {
			var k kusttypes.Kustomization
			if err := yaml.UnmarshalStrict(raw, &k); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		o := &objects{}
		for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
			if err := o.decodeObject(doc); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

// The base and every overlay render, and each rendering is what it says: probes
// split between readiness and liveness, the migration Job under a name an upgrade
// reuses, every argument a real flag of the binary, the overlays' replicas, TLS and
// image.
func TestKustomizeRenders(t *testing.T) {
	cases := []struct {
		dir      string
		replicas int32
		tls      bool
		image    string
	}{
		{"kubernetes/base", 3, false, "localhost/pemba:latest"},
		{"kubernetes/overlays/single", 1, false, "localhost/pemba:latest"},
		{"kubernetes/overlays/production", 5, true, "ghcr.io/pemba-authz/pemba:v0.1.0"},
	}
	for _, c := range cases {
		t.Run(c.dir, func(t *testing.T) {
			o := render(t, c.dir)
			d := o.deployments[0]
			if got := *d.Spec.Replicas; got != c.replicas {
				t.Errorf("replicas %d, want %d", got, c.replicas)
			}
			pod := d.Spec.Template.Spec
			ctr := pod.Containers[0]
			ready, live := ctr.ReadinessProbe.HTTPGet, ctr.LivenessProbe.HTTPGet
			if ready == nil || ready.Path != "/readyz" || live == nil || live.Path != "/livez" {
				t.Errorf("probes: readiness %+v, liveness %+v; want GET /readyz and GET /livez", ready, live)
			}
			scheme := corev1.URISchemeHTTP
			if c.tls {
				scheme = corev1.URISchemeHTTPS
			}
			if ready.Scheme != scheme && !(scheme == corev1.URISchemeHTTP && ready.Scheme == "") {
				t.Errorf("readiness scheme %q, want %q", ready.Scheme, scheme)
			}
			if hasTLS := slices.Contains(ctr.Args, "--tls-cert-file=/etc/pemba/tls/tls.crt"); hasTLS != c.tls {
				t.Errorf("TLS flags present %v, want %v: %v", hasTLS, c.tls, ctr.Args)
			}
			job := o.jobs[0]
			if job.Name != "pemba-migrate" || job.Spec.TTLSecondsAfterFinished == nil {
				t.Errorf("migration Job %q with TTL %v: want pemba-migrate, deleted after it finishes so the next apply recreates it", job.Name, job.Spec.TTLSecondsAfterFinished)
			}
			for _, img := range []string{ctr.Image, job.Spec.Template.Spec.Containers[0].Image} {
				if img != c.image {
					t.Errorf("image %q, want %q", img, c.image)
				}
			}
			checkMemoryLimit(t, ctr)
			checkFlags(t, ctr.Args)
			checkFlags(t, job.Spec.Template.Spec.Containers[0].Args)
			if sel := o.services[0].Spec.Selector; sel["app.kubernetes.io/name"] != "pemba" || d.Spec.Template.Labels["app.kubernetes.io/name"] != "pemba" {
				t.Errorf("the Service selects %v, the pods carry %v", sel, d.Spec.Template.Labels)
			}
			if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
				t.Errorf("pods may run as root: %+v", sc)
			}
		})
	}
}

// checkMemoryLimit fails unless the server is told its container's memory limit
// through the downward API, and that limit is set.
func checkMemoryLimit(t *testing.T, ctr corev1.Container) {
	t.Helper()
	if _, ok := ctr.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Errorf("container %s has no memory limit for PEMBA_MEMORY_LIMIT to follow", ctr.Name)
	}
	for _, e := range ctr.Env {
		if e.Name != cli.EnvName("memory-limit") {
			continue
		}
		ref := e.ValueFrom
		if ref == nil || ref.ResourceFieldRef == nil || ref.ResourceFieldRef.Resource != "limits.memory" ||
			ref.ResourceFieldRef.ContainerName != ctr.Name || ref.ResourceFieldRef.Divisor.String() != "1" {
			t.Errorf("%s = %+v; want the container's limits.memory in bytes (divisor 1)", e.Name, e.ValueFrom)
		}
		return
	}
	t.Errorf("container %s has no %s", ctr.Name, cli.EnvName("memory-limit"))
}

// checkFlags fails for an argument that is not a flag of the named pemba command.
func checkFlags(t *testing.T, args []string) {
	t.Helper()
	root := cli.NewRootCommand()
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		t.Fatalf("%v does not name a pemba command: %v", args, err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Errorf("pemba %s %v: %v", cmd.Name(), rest, err)
	} else if extra := cmd.Flags().Args(); len(extra) > 0 {
		t.Errorf("pemba %s takes no arguments %v", cmd.Name(), extra)
	}
}

// loadCompose loads a compose file with the compose specification's own library,
// which validates it against the specification's schema.
func loadCompose(t *testing.T, file string, env map[string]string) (*composetypes.Project, error) {
	t.Helper()
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	return loader.LoadWithContext(context.Background(), composetypes.ConfigDetails{
		WorkingDir:  filepath.Dir(abs),
		ConfigFiles: []composetypes.ConfigFile{{Filename: abs}},
		Environment: env,
	}, func(o *loader.Options) {
		o.SetProjectName(strings.ReplaceAll(strings.TrimSuffix(filepath.Base(file), ".yaml"), ".", "-"), true)
	})
}

// Both compose files are valid compose documents whose start-up follows health: the
// database is healthy before migrations run, migrations succeed before Pemba starts,
// every command is a real pemba command with real flags, and a missing key stops the
// project with a message naming it.
func TestComposeFiles(t *testing.T) {
	cases := []struct{ file, db string }{
		{"compose.yaml", "crdb1"},
		{"compose.postgres.yaml", "postgres"},
	}
	env := map[string]string{"PEMBA_PRESHARED_KEY": "test-key-0123456789", "POSTGRES_PASSWORD": "test-password"}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			p, err := loadCompose(t, c.file, env)
			if err != nil {
				t.Fatalf("loading: %v", err)
			}
			db, err := p.GetService(c.db)
			if err != nil {
				t.Fatal(err)
			}
			if db.HealthCheck == nil || len(db.HealthCheck.Test) == 0 {
				t.Errorf("%s has no healthcheck", c.db)
			}
			migrate, err := p.GetService("migrate")
			if err != nil {
				t.Fatal(err)
			}
			if dep := migrate.DependsOn[c.db]; dep.Condition != composetypes.ServiceConditionHealthy {
				t.Errorf("migrate waits for %s to be %q, want %q", c.db, dep.Condition, composetypes.ServiceConditionHealthy)
			}
			checkFlags(t, migrate.Command)
			for _, name := range []string{"pemba1", "pemba2"} {
				s, err := p.GetService(name)
				if err != nil {
					t.Fatal(err)
				}
				if dep := s.DependsOn["migrate"]; dep.Condition != composetypes.ServiceConditionCompletedSuccessfully {
					t.Errorf("%s waits for migrate to be %q, want %q", name, dep.Condition, composetypes.ServiceConditionCompletedSuccessfully)
				}
				if v := s.Environment["PEMBA_PRESHARED_KEY"]; v == nil || *v != env["PEMBA_PRESHARED_KEY"] {
					t.Errorf("%s does not get the key from the environment", name)
				}
				checkFlags(t, s.Command)
			}
			_, err = loadCompose(t, c.file, map[string]string{"POSTGRES_PASSWORD": "x"})
			if err == nil || !strings.Contains(err.Error(), "set PEMBA_PRESHARED_KEY") {
				t.Errorf("without a key: %v, want an error asking for PEMBA_PRESHARED_KEY", err)
			}
		})
	}
}
