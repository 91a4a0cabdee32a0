// Package render formats patchbay's results for people: plans as terminal
// tables and as Markdown for pull-request comments. JSON is the results'
// own encoding and needs no help here.
//
// It imports the result packages (plan) and nothing that does I/O beyond
// the io.Writer it is given; evaluator packages never import it.
package render
