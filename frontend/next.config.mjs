// Static export served at /marketplace beside the API (same origin, no CORS). The page lives at
// app/marketplace/page.tsx; its assets are asked for under /marketplace/_next, and
// scripts/postbuild.mjs moves out/_next there, so out/ mirrors the URL space exactly.
/** @type {import('next').NextConfig} */
const nextConfig = {
  output: "export",
  trailingSlash: true,
  assetPrefix: "/marketplace",
  images: { unoptimized: true },
  reactStrictMode: true,
  poweredByHeader: false,
  productionBrowserSourceMaps: false,
};

export default nextConfig;
