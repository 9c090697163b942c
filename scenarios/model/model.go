// Package model is the sequential specification a key's history is checked against for
// linearizability (porcupine): a key is created, used, destroyed. The model is pure; Check
// turns a recorded history into porcupine operations, one partition per key, as etcd's
// robustness tests do.
package model

import (
	"fmt"
	"math"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/hsmsim/hsmsim/scenarios/history"
)

// Operation kinds on a key.
const (
	Create  = "create"
	Use     = "use"
	Destroy = "destroy"
)

// Results an operation can have, as the model sees them.
const (
	OK       = "ok"
	NotFound = "not-found" // the key does not exist (CKR_OBJECT_HANDLE_INVALID, CKR_KEY_HANDLE_INVALID)
	Unknown  = "unknown"   // the answer was lost: it may or may not have taken effect
)

// State of one key.
type State int

// The states.
const (
	Absent State = iota
	Present
	Destroyed
)

func (s State) String() string { return [...]string{"absent", "present", "destroyed"}[s] }

// Input is one call on a key.
type Input struct {
	Key  string
	Kind string
}

// Output is its result.
type Output struct{ Result string }

// step is the specification: which results a call may have in a state, and the states after.
func step(s State, in Input, out Output) []State {
	switch in.Kind {
	case Create:
		switch out.Result {
		case OK:
			if s == Absent {
				return []State{Present}
			}
		case Unknown:
			if s == Absent {
				return []State{Absent, Present}
			}
			return []State{s}
		}
	case Use:
		switch out.Result {
		case OK:
			if s == Present {
				return []State{s}
			}
		case NotFound:
			if s != Present {
				return []State{s}
			}
		case Unknown:
			return []State{s}
		}
	case Destroy:
		switch out.Result {
		case OK:
			if s == Present {
				return []State{Destroyed}
			}
		case NotFound:
			if s != Present {
				return []State{s}
			}
		case Unknown:
			if s == Present {
				return []State{Present, Destroyed}
			}
			return []State{s}
		}
	}
	return nil
}

// Model is the porcupine model, partitioned by key.
var Model = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range h {
			k := op.Input.(Input).Key
			if _, ok := by[k]; !ok {
				order = append(order, k)
			}
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, k := range order {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() []any { return []any{Absent} },
	Step: func(state, input, output any) []any {
		var out []any
		for _, s := range step(state.(State), input.(Input), output.(Output)) {
			out = append(out, s)
		}
		return out
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		return fmt.Sprintf("%s(%s) -> %s", in.Kind, in.Key, out.Result)
	},
	DescribeState: func(state any) string { return state.(State).String() },
}

// Ops turns a timeline's key operations into porcupine operations. Failed calls that say
// nothing about the key (unreachable node, timeout on a read) are left out; writes whose answer
// was lost become Unknown and stay open until the end of time.
func Ops(ops []history.Op) []porcupine.Operation {
	var out []porcupine.Operation
	for _, o := range ops {
		if o.Key == "" {
			continue
		}
		res, keep := Result(o)
		if !keep {
			continue
		}
		ret := int64(o.End)
		if res == Unknown {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{ClientId: o.Worker, Input: Input{Key: o.Key, Kind: o.Kind},
			Call: int64(o.Start), Output: Output{Result: res}, Return: ret})
	}
	return out
}

// Result classifies a recorded operation; keep is false for a failure that says nothing.
func Result(o history.Op) (res string, keep bool) {
	switch {
	case o.Code == "":
		return OK, true
	case o.Code == "CKR_OBJECT_HANDLE_INVALID" || o.Code == "CKR_KEY_HANDLE_INVALID":
		return NotFound, true
	case o.Unknown:
		return Unknown, true
	}
	return "", false
}

// Verdict is a linearizability check's outcome.
type Verdict struct {
	Result     porcupine.CheckResult
	Keys       int
	Operations int
	// Violations is how many keys' histories do not linearize (0 when Result is Ok).
	Violations int
	// Illegal describes, for a failed check, each key whose history does not linearize: the
	// longest prefix that does, and the history.
	Illegal []string
}

// Check checks the key histories of ops, giving up after timeout (then Result is Unknown).
func Check(ops []history.Op, timeout time.Duration) Verdict {
	pops := Ops(ops)
	m := Model.ToModel()
	res := porcupine.CheckOperationsTimeout(m, pops, timeout)
	v := Verdict{Result: res, Operations: len(pops)}
	keys := map[string]bool{}
	for _, o := range pops {
		keys[o.Input.(Input).Key] = true
	}
	v.Keys = len(keys)
	if res == porcupine.Illegal {
		// Name the keys whose history does not linearize, each with the longest prefix that does
		// and the whole history (call and return times).
		for _, part := range m.Partition(pops) {
			pres, pinfo := porcupine.CheckOperationsVerbose(m, part, timeout)
			if pres != porcupine.Illegal {
				continue
			}
			v.Violations++
			k := part[0].Input.(Input).Key
			prefix := ""
			for _, lins := range pinfo.PartialLinearizationsOperations() {
				for _, lin := range lins {
					if len(lin) == 0 {
						continue
					}
					for i, op := range lin {
						if i > 0 {
							prefix += ", "
						}
						prefix += m.DescribeOperation(op.Input, op.Output)
					}
					break
				}
			}
			desc := ""
			for i, op := range part {
				if i > 0 {
					desc += "; "
				}
				ret := "∞"
				if op.Return != math.MaxInt64 {
					ret = time.Duration(op.Return).Round(time.Millisecond).String()
				}
				desc += fmt.Sprintf("%s [%s..%s]", m.DescribeOperation(op.Input, op.Output), time.Duration(op.Call).Round(time.Millisecond), ret)
			}
			v.Illegal = append(v.Illegal, fmt.Sprintf("key %s: longest linearizable prefix: %s; history: %s", k, prefix, desc))
		}
	}
	return v
}
