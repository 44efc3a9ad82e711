"use client";
import { createContext, useContext } from "react";
import { api, type BillingClient } from "./api";

// Components take the client from here, so tests hand them one with a fake fetch.
export const ClientContext = createContext<BillingClient>(api);
export const useClient = (): BillingClient => useContext(ClientContext);
