/** The ERP sits outside this product: the submit job talks to it through this port. */
export interface ErpOrderLine {
  productId: string;
  quantity: number;
  price?: number | null;
}

export interface ErpSubmitRequest {
  /** Idempotency key: the ERP must return the same order number when it sees the same key again. */
  idempotencyKey: string;
  customerId: string;
  lines: ErpOrderLine[];
}

export interface ErpClient {
  submitOrder(req: ErpSubmitRequest, onProgress?: (fraction: number) => void): Promise<{ erpOrderNumber: string }>;
}
