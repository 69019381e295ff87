package server

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// depthLimit refuses operations nested deeper than max fields, or that fragments expand to more
// than maxFields fields, before any resolver runs and before the complexity limit walks them:
// a fragment that spreads the next one twice doubles the operation at each step, and 24 such
// fragments (under 1 KB) made gqlgen's complexity walk take 15 s. Each fragment is measured once.
// Introspection fields (__schema, __type) are not counted: GraphiQL's own schema query is deep
// by nature and costs no database work.
type depthLimit struct{ max, maxFields int }

var (
	_ graphql.HandlerExtension        = depthLimit{}
	_ graphql.OperationContextMutator = depthLimit{}
)

// ExtensionName implements graphql.HandlerExtension.
func (depthLimit) ExtensionName() string { return "DepthLimit" }

// Validate implements graphql.HandlerExtension.
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (l depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := measurer{fragments: map[string]shape{}, maxFields: max(l.maxFields, 1)}
	sh := m.measure(oc.Operation.SelectionSet)
	if sh.depth > l.max {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the operation nests fields more than %d deep; ask for less at once", l.max),
			Extensions: map[string]any{"code": "BAD_USER_INPUT", "reason": "DEPTH_LIMIT_EXCEEDED", "limit": l.max},
		}
	}
	if sh.fields > m.maxFields {
		return &gqlerror.Error{
			Message:    fmt.Sprintf("the operation's fragments expand to more than %d fields; ask for less at once", m.maxFields),
			Extensions: map[string]any{"code": "COMPLEXITY_LIMIT_EXCEEDED", "reason": "FRAGMENT_EXPANSION", "limit": m.maxFields},
		}
	}
	return nil
}

// shape is what a selection set expands to: how deep its fields nest and how many there are
// (counted up to maxFields+1).
type shape struct{ depth, fields int }

type measurer struct {
	fragments map[string]shape // each fragment measured once
	maxFields int
}

func (m *measurer) measure(set ast.SelectionSet) shape {
	var out shape
	add := func(sh shape, nested int) {
		out.depth = max(out.depth, sh.depth+nested)
		out.fields = min(out.fields+sh.fields, m.maxFields+1)
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") && s.Name != "__typename" {
				continue
			}
			add(m.measure(s.SelectionSet), 1)
			out.fields = min(out.fields+1, m.maxFields+1)
		case *ast.InlineFragment:
			add(m.measure(s.SelectionSet), 0)
		case *ast.FragmentSpread:
			if s.Definition == nil {
				continue
			}
			sh, ok := m.fragments[s.Name]
			if !ok {
				m.fragments[s.Name] = shape{} // validation refuses cycles; this ends one anyway
				sh = m.measure(s.Definition.SelectionSet)
				m.fragments[s.Name] = sh
			}
			add(sh, 0)
		}
	}
	return out
}

// maxValidationErrors bounds the errors validation reports: N aliases of one field with
// different arguments make N²/2 conflicts (200 aliases in 1,400 tokens made 19,900 errors and
// 230 ms of work to build and send them).
const maxValidationErrors = 50

// cappedRules are gqlparser's validation rules reporting at most maxValidationErrors errors in
// all, then one that says more were found. A fresh count for each validation.
func cappedRules() *rules.Rules {
	r := rules.NewDefaultRules()
	var n atomic.Int32
	for name, rule := range r.GetInner() {
		r.ReplaceRule(name, func(observers *core.Events, addError core.AddErrFunc) {
			rule(observers, func(options ...core.ErrorOption) {
				switch c := n.Add(1); {
				case c <= maxValidationErrors:
					addError(options...)
				case c == maxValidationErrors+1:
					addError(core.Message("more validation errors were found; only the first %d are shown", maxValidationErrors))
				}
			})
		})
	}
	return r
}
