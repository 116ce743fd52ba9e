// Package argocdtest evaluates ecs-operator's Argo CD health checks with Argo CD's
// own code, through the path the application controller takes: the argocd-cm
// ConfigMap we ship, read by Argo CD's settings manager into resource overrides,
// turned into Lua health overrides, and evaluated by gitops-engine's
// GetResourceHealth (Lua open libraries off, as in the controller).
package argocdtest

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/argoproj/gitops-engine/pkg/health"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v2/util/lua"
	"github.com/argoproj/argo-cd/v2/util/settings"
)

// The health checks' home: argocd/ at the top of the repository.
const argocdDir = "../../argocd"

const group = "ecs.operator.dev"

var kinds = []string{"Cluster", "TaskDefinition", "Service", "Task"}

// One case of a health_test.yaml, in Argo CD's own format.
type healthCase struct {
	InputPath    string              `json:"inputPath"`
	HealthStatus health.HealthStatus `json:"healthStatus"`
}

type healthTests struct {
	Tests []healthCase `json:"tests"`
}

// overridesFromShippedConfigMap reads argocd/argocd-cm-patch.yaml into an argocd-cm
// ConfigMap and lets Argo CD's settings manager parse it, as the controller does.
func overridesFromShippedConfigMap(t *testing.T) lua.ResourceHealthOverrides {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(argocdDir, "argocd-cm-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var patch struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &patch); err != nil {
		t.Fatalf("argocd-cm-patch.yaml: %v", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "argocd-cm",
			Namespace: "argocd",
			Labels:    map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
		Data: patch.Data,
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "argocd-secret",
			Namespace: "argocd",
			Labels:    map[string]string{"app.kubernetes.io/part-of": "argocd"},
		},
	}
	mgr := settings.NewSettingsManager(context.Background(), fake.NewSimpleClientset(cm, secret), "argocd")
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		t.Fatalf("Argo CD refused our argocd-cm: %v", err)
	}
	for _, kind := range kinds {
		o, ok := overrides[group+"/"+kind]
		if !ok || o.HealthLua == "" {
			t.Fatalf("argocd-cm has no health check for %s/%s (overrides: %v)", group, kind, keys(overrides))
		}
		if o.UseOpenLibs {
			t.Fatalf("%s/%s: the check must run without Lua's open libraries", group, kind)
		}
	}
	return lua.ResourceHealthOverrides(overrides)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readObject(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &unstructured.Unstructured{Object: obj}
}

// Every case in every kind's health_test.yaml gives the health and message it says,
// and every captured object in testdata/ has a case.
func TestHealthChecksThroughArgoCDsControllerPath(t *testing.T) {
	overrides := overridesFromShippedConfigMap(t)
	for _, kind := range kinds {
		dir := filepath.Join(argocdDir, "resource_customizations", group, kind)
		raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var tests healthTests
		if err := yaml.Unmarshal(raw, &tests); err != nil {
			t.Fatalf("%s/health_test.yaml: %v", kind, err)
		}
		listed := map[string]bool{}
		for _, c := range tests.Tests {
			c := c
			listed[filepath.Clean(c.InputPath)] = true
			t.Run(kind+"/"+c.InputPath, func(t *testing.T) {
				obj := readObject(t, filepath.Join(dir, c.InputPath))
				if obj.GetKind() != kind {
					t.Fatalf("%s is a %s, not a %s", c.InputPath, obj.GetKind(), kind)
				}
				got, err := health.GetResourceHealth(obj, overrides)
				if err != nil {
					t.Fatalf("Argo CD could not evaluate the check: %v", err)
				}
				if got == nil {
					t.Fatal("Argo CD found no health check for the object")
				}
				if *got != c.HealthStatus {
					t.Fatalf("health\n got: %+v\nwant: %+v", *got, c.HealthStatus)
				}
			})
		}
		files, err := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(dir, f)
			if !listed[rel] {
				t.Errorf("%s/%s has no case in health_test.yaml", kind, rel)
			}
		}
	}
}

// The shipped snippets (argocd-cm patch, Argo CD Helm chart values) carry exactly
// argocd/health.lua. UPDATE_SNIPPETS=1 rewrites them.
func TestSnippetsAreGeneratedFromTheHealthScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(argocdDir, "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range kinds {
		linked, err := os.ReadFile(filepath.Join(argocdDir, "resource_customizations", group, kind, "health.lua"))
		if err != nil || string(linked) != string(script) {
			t.Fatalf("resource_customizations/%s/%s/health.lua must be argocd/health.lua (a link to it)", group, kind)
		}
	}
	header := "# Generated from argocd/health.lua by tests/argocd (UPDATE_SNIPPETS=1 go test). Do not edit.\n"
	entries := func(indent string) string {
		var b strings.Builder
		for _, kind := range kinds {
			b.WriteString(indent + "resource.customizations.health." + group + "_" + kind + ": |\n")
			for _, line := range strings.Split(strings.TrimRight(string(script), "\n"), "\n") {
				if line == "" {
					b.WriteString("\n")
				} else {
					b.WriteString(indent + "  " + line + "\n")
				}
			}
		}
		return b.String()
	}
	want := map[string]string{
		"argocd-cm-patch.yaml": header +
			"# kubectl -n argocd patch configmap argocd-cm --type merge --patch-file argocd/argocd-cm-patch.yaml\n" +
			"data:\n" + entries("  "),
		"argo-cd-helm-values.yaml": header +
			"# helm upgrade argocd argo/argo-cd -n argocd --reuse-values -f argocd/argo-cd-helm-values.yaml\n" +
			"configs:\n  cm:\n" + entries("    "),
	}
	for name, content := range want {
		path := filepath.Join(argocdDir, name)
		if os.Getenv("UPDATE_SNIPPETS") == "1" {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("argocd/%s is stale: run UPDATE_SNIPPETS=1 go test ./... in tests/argocd", name)
		}
	}
}
