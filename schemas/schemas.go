// Package schemas embeds patchbay's CUE definitions (#Config, #Baseline,
// #Ring, #Exception, #Report). They are plain CUE: `cue vet` with these files
// must agree with `patchbay validate`. It imports nothing of patchbay.
package schemas

import "embed"

// FS holds the CUE schema files, package schemas.
//
//go:embed *.cue
var FS embed.FS
