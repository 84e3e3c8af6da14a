//! A scripted stand-in for monero-wallet-rpc, for the money rules the real wallet cannot be
//! made to show on demand (a relay refused right after signing). It signs instantly with
//! synthetic hashes, keeps every signed transfer, and answers as the test sets it up.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rxpool::domain::{Atomic, Hash32, Height};
use rxpool::monero::rpc_types::{Balance, SignedTransfer, Transfer};
use rxpool::monero::wallet::{Destination, TransferOptions, TransfersQuery, Wallet, WalletError};

/// The network fee of every synthetic tx.
pub const NETWORK_FEE: Atomic = Atomic(30_000_000);

#[derive(Debug, Default)]
pub struct FakeWallet {
    next_tx: AtomicU64,
    /// When set, `relay_tx` is refused as a double spend would be.
    pub refuse_relay: AtomicBool,
    /// Every signed transfer: (tx hash, destinations).
    pub signed: Mutex<Vec<(Hash32, Vec<Destination>)>>,
}

impl Wallet for FakeWallet {
    async fn transfer(
        &self,
        destinations: &[Destination],
        _options: TransferOptions,
    ) -> Result<SignedTransfer, WalletError> {
        let n = self.next_tx.fetch_add(1, Ordering::Relaxed) + 1;
        let mut hash = [0u8; 32];
        hash[..8].copy_from_slice(&n.to_le_bytes());
        self.signed
            .lock()
            .unwrap()
            .push((Hash32(hash), destinations.to_vec()));
        Ok(SignedTransfer {
            tx_hash: Hash32(hash),
            tx_metadata: hex::encode(hash),
            tx_key: "00".repeat(32),
            fee: NETWORK_FEE,
            amount: destinations.iter().map(|d| d.amount).sum(),
        })
    }

    async fn relay_tx(&self, tx_metadata: &str) -> Result<Hash32, WalletError> {
        if self.refuse_relay.load(Ordering::Relaxed) {
            return Err(WalletError::Refused {
                code: -4,
                message: "Failed to relay tx: double spend".to_owned(),
            });
        }
        let mut hash = [0u8; 32];
        hex::decode_to_slice(tx_metadata, &mut hash).expect("our metadata");
        Ok(Hash32(hash))
    }

    async fn get_transfers(&self, _query: TransfersQuery) -> Result<Vec<Transfer>, WalletError> {
        Ok(Vec::new())
    }

    async fn get_transfer_by_txid(&self, _txid: Hash32) -> Result<Option<Transfer>, WalletError> {
        Ok(None)
    }

    async fn get_balance(&self) -> Result<Balance, WalletError> {
        Ok(Balance {
            balance: Atomic(u64::MAX / 2),
            unlocked: Atomic(u64::MAX / 2),
            blocks_to_unlock: 0,
        })
    }

    async fn store(&self) -> Result<(), WalletError> {
        Ok(())
    }

    async fn refresh(&self) -> Result<u64, WalletError> {
        Ok(0)
    }

    async fn height(&self) -> Result<Height, WalletError> {
        Ok(Height(0))
    }
}
