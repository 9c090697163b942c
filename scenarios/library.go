package scenarios

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// LoadDir loads every scenario file (*.yaml, *.yml) of a directory, sorted by file name.
func LoadDir(dir string) ([]*spec.Scenario, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var out []*spec.Scenario
	var errs []string
	for _, n := range names {
		s, err := spec.Load(filepath.Join(dir, n))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return out, &spec.Error{Problems: errs}
	}
	return out, nil
}

// Load loads scenario files and directories of them (LoadDir), in the order given.
func Load(paths ...string) ([]*spec.Scenario, error) {
	var out []*spec.Scenario
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			ss, err := LoadDir(p)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
			continue
		}
		s, err := spec.Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
