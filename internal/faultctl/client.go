package faultctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
)

// Client talks to the API of a running stack.
type Client struct {
	// URL is the stack's endpoint (http://127.0.0.1:4566, as hsmsim env prints it).
	URL  string
	HTTP *http.Client // nil: a client with a 2-minute timeout (adding a wipe waits for the kill)
}

func (c *Client) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.URL, "/")+Path+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s", e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, Path+path, resp.Status)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// AddRule puts a rule at the AWS API in force and returns it as in force.
func (c *Client) AddRule(r fault.Rule) (fault.Rule, error) {
	var out fault.Rule
	return out, c.do(http.MethodPost, "", r, &out)
}

// AddHSM puts an HSM fault in force and returns it as in force.
func (c *Client) AddHSM(f HSMFault) (HSMFault, error) {
	var out HSMFault
	return out, c.do(http.MethodPost, "", f, &out)
}

// List lists the faults in force.
func (c *Client) List() (Listing, error) {
	var out Listing
	return out, c.do(http.MethodGet, "", nil, &out)
}

// Remove ends one fault.
func (c *Client) Remove(id string) error { return c.do(http.MethodDelete, "/"+id, nil, nil) }

// Clear ends every fault and says how many there were.
func (c *Client) Clear() (int, error) {
	var out struct{ Cleared int }
	return out.Cleared, c.do(http.MethodDelete, "", nil, &out)
}
