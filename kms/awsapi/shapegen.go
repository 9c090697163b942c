//go:build ignore

// shapegen writes shapes_gen.go: the validation rules of every operation's input and the
// exceptions the model lists for each operation, taken from the AWS API models (botocore's kms-2014-11-01.json and cloudhsmv2-2017-04-28.json). The models are
// not part of this repository; the rules they state (lengths, patterns, ranges, enums, required
// members) are facts about the AWS wire API, and the generated table names the model shape each
// rule comes from. Run it again when a newer model is wanted:
//
//	go run shapegen.go -kms kms-2014-11-01.json -hsm cloudhsmv2-2017-04-28.json > shapes_gen.go
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"regexp"
	"sort"
	"strings"
)

type ref struct {
	Shape string `json:"shape"`
}

type shapeDef struct {
	Type      string         `json:"type"`
	Min       *float64       `json:"min"`
	Max       *float64       `json:"max"`
	Pattern   string         `json:"pattern"`
	Enum      []string       `json:"enum"`
	Required  []string       `json:"required"`
	Members   map[string]ref `json:"members"`
	Member    *ref           `json:"member"`
	Key       *ref           `json:"key"`
	Value     *ref           `json:"value"`
	Sensitive bool           `json:"sensitive"`
}

type model struct {
	Metadata struct {
		UID string `json:"uid"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input  ref   `json:"input"`
		Errors []ref `json:"errors"`
	} `json:"operations"`
	Shapes map[string]shapeDef `json:"shapes"`
}

var javaUnicode = regexp.MustCompile(`\\u([0-9A-Fa-f]{4})`)

// goPattern turns a model (Java) pattern into RE2 anchored for a whole-value match, which is how
// the service applies it.
func goPattern(p string) string {
	p = javaUnicode.ReplaceAllString(p, `\x{$1}`)
	p = strings.ReplaceAll(p, `0-9-_.`, `0-9\-_.`) // XksKeyIdType: Java reads a trailing '-' literally
	if _, err := regexp.Compile(p); err != nil {
		log.Fatalf("pattern %q: %v", p, err)
	}
	return `^(?:` + p + `)$`
}

func emit(w *strings.Builder, varName, opsName, errsName string, m *model) {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		s := m.Shapes[n]
		for _, r := range []*ref{s.Member, s.Key, s.Value} {
			if r != nil {
				walk(r.Shape)
			}
		}
		for _, r := range s.Members {
			walk(r.Shape)
		}
	}
	var ops []string
	for name, op := range m.Operations {
		ops = append(ops, name)
		walk(op.Input.Shape)
	}
	sort.Strings(ops)
	fmt.Fprintf(w, "// %s maps each operation of %s to its input shape.\n", opsName, m.Metadata.UID)
	fmt.Fprintf(w, "var %s = map[string]string{\n", opsName)
	for _, o := range ops {
		fmt.Fprintf(w, "\t%q: %q,\n", o, m.Operations[o].Input.Shape)
	}
	fmt.Fprintf(w, "}\n\n")
	fmt.Fprintf(w, "// %s lists the exceptions the model names for each operation of %s.\n", errsName, m.Metadata.UID)
	fmt.Fprintf(w, "var %s = map[string][]string{\n", errsName)
	for _, o := range ops {
		var es []string
		for _, e := range m.Operations[o].Errors {
			es = append(es, fmt.Sprintf("%q", e.Shape))
		}
		fmt.Fprintf(w, "\t%q: {%s},\n", o, strings.Join(es, ", "))
	}
	fmt.Fprintf(w, "}\n\n")
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "// %s holds the input shapes of %s, by model shape name.\n", varName, m.Metadata.UID)
	fmt.Fprintf(w, "var %s = map[string]*shape{\n", varName)
	for _, n := range names {
		s := m.Shapes[n]
		var f []string
		f = append(f, "kind: k"+strings.ToUpper(s.Type[:1])+s.Type[1:])
		lim := func(p *float64) string {
			if p == nil {
				return "-1"
			}
			return fmt.Sprint(int64(*p))
		}
		if s.Min != nil || s.Max != nil {
			f = append(f, "min: "+lim(s.Min), "max: "+lim(s.Max))
		} else {
			f = append(f, "min: -1", "max: -1")
		}
		if s.Pattern != "" {
			f = append(f, fmt.Sprintf("pattern: %q", goPattern(s.Pattern)))
		}
		if len(s.Enum) > 0 {
			f = append(f, fmt.Sprintf("enum: %#v", s.Enum))
		}
		if s.Sensitive {
			f = append(f, "sensitive: true")
		}
		if s.Member != nil {
			f = append(f, fmt.Sprintf("member: %q", s.Member.Shape))
		}
		if s.Key != nil {
			f = append(f, fmt.Sprintf("key: %q, value: %q", s.Key.Shape, s.Value.Shape))
		}
		if s.Type == "structure" {
			req := map[string]bool{}
			for _, r := range s.Required {
				req[r] = true
			}
			var mn []string
			for k := range s.Members {
				mn = append(mn, k)
			}
			sort.Strings(mn)
			var ms []string
			for _, k := range mn {
				ms = append(ms, fmt.Sprintf("{name: %q, shape: %q, required: %v}", k, s.Members[k].Shape, req[k]))
			}
			f = append(f, "members: []member{"+strings.Join(ms, ", ")+"}")
		}
		fmt.Fprintf(w, "\t%q: {%s},\n", n, strings.Join(f, ", "))
	}
	fmt.Fprintf(w, "}\n\n")
}

func load(path string) *model {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var m model
	if err := json.Unmarshal(b, &m); err != nil {
		log.Fatal(err)
	}
	return &m
}

func main() {
	kmsPath := flag.String("kms", "kms-2014-11-01.json", "KMS model")
	hsmPath := flag.String("hsm", "cloudhsmv2-2017-04-28.json", "CloudHSM V2 model")
	flag.Parse()
	var w strings.Builder
	w.WriteString("// Code generated by shapegen.go from the AWS API models; DO NOT EDIT.\n\npackage awsapi\n\n")
	emit(&w, "kmsShapes", "kmsOps", "kmsErrors", load(*kmsPath))
	emit(&w, "hsmShapes", "hsmOps", "hsmErrors", load(*hsmPath))
	os.Stdout.WriteString(w.String())
}
