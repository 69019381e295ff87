package server

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The settings of the API's limits and of partners' webhooks.

func applyRateLimit(c *config, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1e6 {
		return fmt.Errorf("%q is not a number of requests a second between 0 and 1000000", v)
	}
	c.rateLimit = f
	return nil
}

func applyWebhookAllowHosts(c *config, v string) error {
	c.webhookAllowHosts = nil
	for h := range strings.SplitSeq(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			if strings.ContainsAny(h, "/:@ ") && net.ParseIP(h) == nil {
				return fmt.Errorf("%q is not a host name or an IP address", h)
			}
			c.webhookAllowHosts = append(c.webhookAllowHosts, h)
		}
	}
	return nil
}

func applyCostLimit(c *config, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1e9 {
		return fmt.Errorf("%q is not a number of points a second between 0 and 1000000000", v)
	}
	c.costRestore = f
	return nil
}

func applyCostBucket(c *config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < maxQueryComplexity || n > 1e9 {
		return fmt.Errorf("%q is not a whole number from %d (the most one query may cost) to 1000000000", v, maxQueryComplexity)
	}
	c.costBucket = n
	return nil
}

func applyRateBurst(c *config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1e6 {
		return fmt.Errorf("%q is not a whole number from 1 to 1000000", v)
	}
	c.rateBurst = n
	return nil
}

func applySyncConcurrency(c *config, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return fmt.Errorf("%q is not a whole number from 1 to 1000", v)
	}
	c.syncConcurrency = n
	return nil
}
