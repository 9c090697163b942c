package clientcmd

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

var classNames = map[uint64]string{p11.CKO_DATA: "data", p11.CKO_SECRET_KEY: "secret", p11.CKO_PUBLIC_KEY: "public", p11.CKO_PRIVATE_KEY: "private"}
var keyTypeNames = map[uint64]string{p11.CKK_AES: "AES", p11.CKK_GENERIC_SECRET: "generic", p11.CKK_RSA: "RSA", p11.CKK_EC: "EC"}

// shownAttrs are the attributes "key show" prints, in this order.
var shownAttrs = []uint32{p11.CKA_CLASS, p11.CKA_KEY_TYPE, p11.CKA_LABEL, p11.CKA_ID, p11.CKA_TOKEN, p11.CKA_PRIVATE,
	p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_ALWAYS_SENSITIVE, p11.CKA_NEVER_EXTRACTABLE, p11.CKA_LOCAL,
	p11.CKA_MODIFIABLE, p11.CKA_ENCRYPT, p11.CKA_DECRYPT, p11.CKA_SIGN, p11.CKA_VERIFY, p11.CKA_WRAP, p11.CKA_UNWRAP,
	p11.CKA_DERIVE, p11.CKA_TRUSTED, p11.CKA_WRAP_WITH_TRUSTED, p11.CKA_VALUE_LEN, p11.CKA_MODULUS_BITS, p11.CKA_EC_PARAMS, p11.CKA_KEY_GEN_MECHANISM, p11.CKA_VALUE}

var boolAttrs = map[uint32]bool{p11.CKA_TOKEN: true, p11.CKA_PRIVATE: true, p11.CKA_SENSITIVE: true, p11.CKA_EXTRACTABLE: true,
	p11.CKA_ALWAYS_SENSITIVE: true, p11.CKA_NEVER_EXTRACTABLE: true, p11.CKA_LOCAL: true, p11.CKA_MODIFIABLE: true,
	p11.CKA_ENCRYPT: true, p11.CKA_DECRYPT: true, p11.CKA_SIGN: true, p11.CKA_VERIFY: true, p11.CKA_WRAP: true,
	p11.CKA_UNWRAP: true, p11.CKA_DERIVE: true, p11.CKA_TRUSTED: true, p11.CKA_WRAP_WITH_TRUSTED: true}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "list, inspect, share and delete keys (as a crypto user)",
		Description: `Keys are listed as the logged-in crypto user sees them: its own, those shared with it,
and public objects. Sensitive values are never shown; the HSM refuses to reveal them.`,
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "list the keys you can see", Flags: append([]cli.Flag{&cli.StringFlag{Name: "label", Usage: "only keys with this CKA_LABEL"}}, clientFlags...),
				Action: clientAction(true, nil, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
					var tmpl []attr.Attribute
					if l := c.String("label"); l != "" {
						tmpl = append(tmpl, attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(l)})
					}
					hs, err := cl.FindObjects(ctx, tmpl)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "HANDLE\tCLASS\tTYPE\tLABEL")
					for _, h := range hs {
						res, err := cl.GetAttributes(ctx, h, p11.CKA_CLASS, p11.CKA_KEY_TYPE, p11.CKA_LABEL)
						if err != nil {
							return err
						}
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", h, enumName(res[0].Value, classNames), enumName(res[1].Value, keyTypeNames), res[2].Value)
					}
					return w.Flush()
				}),
			},
			{
				Name: "show", Usage: "show a key's attributes", ArgsUsage: "HANDLE", Flags: clientFlags,
				Action: clientAction(true, checkHandle, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
					h, _ := handleArg(c)
					res, err := cl.GetAttributes(ctx, h, shownAttrs...)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					for _, r := range res {
						if r.Rv == p11.CKR_ATTRIBUTE_TYPE_INVALID {
							continue
						}
						fmt.Fprintf(w, "%s\t%s\n", p11.AttrName(r.Type), showValue(r.Type, r.Value, r.Rv))
					}
					return w.Flush()
				}),
			},
			{
				Name: "delete", Usage: "destroy a key you own", ArgsUsage: "HANDLE", Flags: clientFlags,
				Action: clientAction(true, checkHandle, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
					h, _ := handleArg(c)
					return cl.DestroyObject(ctx, h)
				}),
			},
			shareCommand("share", true), shareCommand("unshare", false),
			trustCommand("trust", true), trustCommand("untrust", false),
		},
	}
}

func shareCommand(name string, share bool) *cli.Command {
	return &cli.Command{
		Name: name, Usage: name + " a key you own with another crypto user", ArgsUsage: "HANDLE USER", Flags: clientFlags,
		Action: clientAction(true, func(c *cli.Context) error {
			if err := nargs(2, "key "+name+" HANDLE USER")(c); err != nil {
				return err
			}
			return checkHandle(c)
		}, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
			h, _ := handleArg(c)
			return cl.ShareKey(ctx, h, c.Args().Get(1), share)
		}),
	}
}

// trustCommand sets CKA_TRUSTED, which only an admin may do (run it with an admin's PIN): a key
// with CKA_WRAP_WITH_TRUSTED can then be wrapped under this key only.
func trustCommand(name string, trusted bool) *cli.Command {
	return &cli.Command{
		Name: name, Usage: "as an admin, set CKA_TRUSTED " + strconv.FormatBool(trusted) + " on a crypto user's key", ArgsUsage: "HANDLE", Flags: clientFlags,
		Action: clientAction(true, func(c *cli.Context) error {
			if err := nargs(1, "key "+name+" HANDLE --pin admin:PASSWORD")(c); err != nil {
				return err
			}
			return checkHandle(c)
		}, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
			h, _ := handleArg(c)
			return cl.SetAttributes(ctx, h, []attr.Attribute{{Type: p11.CKA_TRUSTED, Value: attr.Bool(trusted)}})
		}),
	}
}

// handleArg is the key handle of the first argument.
func handleArg(c *cli.Context) (uint32, error) {
	if c.NArg() < 1 {
		return 0, fmt.Errorf("a key handle is needed")
	}
	h, err := strconv.ParseUint(c.Args().Get(0), 0, 32)
	return uint32(h), err
}

func checkHandle(c *cli.Context) error {
	_, err := handleArg(c)
	return err
}

func enumName(v []byte, names map[uint64]string) string {
	if len(v) != 8 {
		return "-"
	}
	n := binary.LittleEndian.Uint64(v)
	if s, ok := names[n]; ok {
		return s
	}
	return fmt.Sprintf("0x%x", n)
}

func showValue(t uint32, v []byte, rv uint32) string {
	switch {
	case rv == p11.CKR_ATTRIBUTE_SENSITIVE:
		return "(sensitive)"
	case rv != p11.CKR_OK:
		return p11.RVName(rv)
	case boolAttrs[t] && len(v) == 1:
		return strconv.FormatBool(v[0] != 0)
	case t == p11.CKA_CLASS:
		return enumName(v, classNames)
	case t == p11.CKA_KEY_TYPE:
		return enumName(v, keyTypeNames)
	case t == p11.CKA_KEY_GEN_MECHANISM && len(v) == 8:
		m := binary.LittleEndian.Uint64(v)
		if m > 0xFFFFFFFF {
			return "(not generated here)"
		}
		return p11.MechName(uint32(m))
	case (t == p11.CKA_VALUE_LEN || t == p11.CKA_MODULUS_BITS) && len(v) == 8:
		return strconv.FormatUint(binary.LittleEndian.Uint64(v), 10)
	case t == p11.CKA_LABEL:
		return strconv.Quote(string(v))
	}
	return hex.EncodeToString(v)
}
