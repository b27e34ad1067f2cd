// Strings shared by every page: the shell, sign-in, generic actions.
export default {
  en: {
    'common.save': 'Save',
    'common.cancel': 'Cancel',
    'common.delete': 'Delete',
    'common.loading': 'Loading…',
    'common.load_more': 'Load more',
    'common.not_updated': 'Not updated',
    'common.not_created': 'Not created',
    'common.not_saved': 'Not saved',
    'common.not_deleted': 'Not deleted',
  },
  id: {
    'common.save': 'Simpan',
    'common.cancel': 'Batal',
    'common.delete': 'Hapus',
    'common.loading': 'Memuat…',
    'common.load_more': 'Muat lebih banyak',
    'common.not_updated': 'Tidak diperbarui',
    'common.not_created': 'Tidak dibuat',
    'common.not_saved': 'Tidak disimpan',
    'common.not_deleted': 'Tidak dihapus',
  },
};
