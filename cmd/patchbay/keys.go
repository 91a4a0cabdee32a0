package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/spf13/cobra"
)

func (a *app) newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage the keys that sign audit records",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newKeysGenerateCmd())
	return cmd
}

func (a *app) newKeysGenerateCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "generate --out DIR",
		Short: "Generate an ECDSA P-256 signing key pair (cosign-compatible)",
		Long: `Generate writes DIR/patchbay.key and DIR/patchbay.pub: an ECDSA P-256 key pair
in cosign's format. The private key is encrypted ("ENCRYPTED SIGSTORE PRIVATE
KEY", scrypt + secretbox) with the password in $PATCHBAY_KEY_PASSWORD; an
empty password is allowed, as with cosign, but warned about. The public key
is a PEM "PUBLIC KEY"; list it among the trusted keys of the patch
repository and pass it to 'patchbay audit verify --key'.

A key made by 'cosign generate-key-pair' works too (same format), and
cosign verifies what patchbay signs with this key.

Examples:
  PATCHBAY_KEY_PASSWORD=... patchbay keys generate --out ./keys
  patchbay keys generate --out ./keys --force   # overwrite an existing pair`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError("--out DIR is required")
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return fmt.Errorf("keys generate: %w", err)
			}
			keyPath, pubPath := filepath.Join(out, audit.PrivateKeyFile), filepath.Join(out, audit.PublicKeyFile)
			if !force {
				for _, p := range []string{keyPath, pubPath} {
					if _, err := os.Stat(p); err == nil {
						return usageError("%s exists; pass --force to overwrite it", p)
					} else if !errors.Is(err, fs.ErrNotExist) {
						return fmt.Errorf("keys generate: %w", err)
					}
				}
			}
			password := a.getenv(envKeyPassword)
			if password == "" {
				fmt.Fprintf(a.stderr, "patchbay: warning: $%s is empty; the private key is encrypted with an empty password\n", envKeyPassword)
			}
			priv, pub, err := audit.GenerateKeyPair([]byte(password))
			if err != nil {
				return err
			}
			if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
				return fmt.Errorf("keys generate: %w", err)
			}
			if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
				return fmt.Errorf("keys generate: %w", err)
			}
			fmt.Fprintf(a.stdout, "Private key written to %s\nPublic key written to %s\n", keyPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write patchbay.key and patchbay.pub to")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing key pair")
	return cmd
}
