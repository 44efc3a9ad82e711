import type { Metadata } from "next";
import type { ReactNode } from "react";
import "./globals.css";

export const metadata: Metadata = {
  title: "Marketplace Billing",
  description: "Plans, subscription health, usage, invoices and credits of the lab-automation marketplace.",
  icons: { icon: "data:," }, // no favicon request (a 404 on every load otherwise)
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
