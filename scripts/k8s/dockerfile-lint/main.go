// Command dockerfile-lint parses Dockerfiles with BuildKit's own front end, the parser,
// instruction decoder and linter that `docker build` runs, so syntax errors, unknown
// instructions, malformed flags and build-check warnings fail offline, before anyone
// builds an image. scripts/k8s-check.sh builds it into .cache/bin and runs it on
// docker/*.Dockerfile (the `dockerfiles` check).
//
//	dockerfile-lint FILE...
//
// Prints one line per problem and exits 1 if there was any.
package main

import (
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		for _, problem := range check(path) {
			fmt.Printf("%s: %s\n", path, problem)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{err.Error()}
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	for _, w := range res.Warnings {
		problems = append(problems, fmt.Sprintf("line %d: %s", w.Location.Start.Line, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		problems = append(problems, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return append(problems, err.Error())
	}
	if len(stages) == 0 {
		problems = append(problems, "no build stage")
	}
	return problems
}
