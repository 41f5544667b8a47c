// k8s-decode reads rendered Kubernetes objects (YAML documents on stdin or
// in the files named) and decodes each one strictly with client-go's
// scheme, plus prometheus-operator's PodMonitor and ServiceMonitor: a field
// the API does not have (a misspelt readinessProbee, a value at the wrong
// level) is an error, where kubectl apply would drop it silently or the API
// server refuse it.  Prints "kind name" per object; exits 1 on the first
// object it cannot decode, naming the document and the field.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	sigsyaml "sigs.k8s.io/yaml"
)

type meta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func decodeAll(name string, r io.Reader, strict runtime.Decoder) (int, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	n := 0
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		var m meta
		if err := sigsyaml.Unmarshal(raw, &m); err != nil {
			return n, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if m.Kind == "" && m.APIVersion == "" {
			continue // only comments
		}
		if _, _, err := strict.Decode(raw, nil, nil); err != nil {
			return n, fmt.Errorf("%s: document %d (%s %s): %w", name, doc, m.Kind, m.Metadata.Name, err)
		}
		fmt.Printf("%s %s\n", m.Kind, m.Metadata.Name)
		n++
	}
}

func main() {
	if err := monitoringv1.AddToScheme(scheme.Scheme); err != nil {
		fmt.Fprintln(os.Stderr, "k8s-decode:", err)
		os.Exit(2)
	}
	strict := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		json.SerializerOptions{Yaml: true, Strict: true})
	var err error
	total := 0
	if len(os.Args) < 2 {
		total, err = decodeAll("stdin", os.Stdin, strict)
	}
	for _, path := range os.Args[1:] {
		f, ferr := os.Open(path)
		if ferr != nil {
			err = ferr
			break
		}
		n, derr := decodeAll(path, f, strict)
		f.Close()
		total += n
		if err = derr; err != nil {
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8s-decode:", err)
		os.Exit(1)
	}
	if total == 0 {
		fmt.Fprintln(os.Stderr, "k8s-decode: no object to decode")
		os.Exit(1)
	}
}
