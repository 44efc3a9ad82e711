import { Storefront } from "../../components/Storefront";

// The storefront: a static page (output: 'export'); everything it shows comes from /api/billing
// in the browser, through lib/api.ts.
export default function MarketplacePage() {
  return <Storefront />;
}
