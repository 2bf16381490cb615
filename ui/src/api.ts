// The query API over Connect, on the origin that served the page (`vigil serve`'s web port).

import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { QueryService } from "./gen/vigil/query/v1/query_pb";

const transport = createConnectTransport({ baseUrl: window.location.origin });

export const query = createClient(QueryService, transport);

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
