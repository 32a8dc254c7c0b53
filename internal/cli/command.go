package cli

import "upshift.dev/upshift/internal/cmdkit"

// runE makes a command's options (Complete, Validate, Run: the
// cmdkit.Command shape every command here has) its cobra RunE.
var runE = cmdkit.RunE
