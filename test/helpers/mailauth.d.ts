// mailauth 4 ships no types; this is the part the tests call.
declare module 'mailauth/lib/dkim/verify' {
  export function dkimVerify(
    input: Buffer,
    options: { resolver: (name: string, type: string) => Promise<string[][]> },
  ): Promise<{
    results: Array<{ signingDomain: string; selector: string; status: { result: string; comment?: string } }>;
  }>;
}
