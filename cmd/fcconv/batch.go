package main

import "github.com/spf13/cobra"

// batchFlags are the flags of batch conversion (convert DIR... -o OUTDIR).
type batchFlags struct {
	from string
}

func (b *batchFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&b.from, "from", "", "read model paths from FILE (- for stdin), one per line")
}

func runBatch(cmd *cobra.Command, f *convertFlags, args []string) error {
	return usageErr("batch conversion is not implemented yet")
}
